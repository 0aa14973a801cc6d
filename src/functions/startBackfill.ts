import * as df from 'durable-functions';
import type { HttpRequest, InvocationContext } from '@azure/functions';
import { findMissingStep } from '../pipeline/steps';
import { appLedger, planAppLoads, withAppRun } from '../run/app';
import { handleBackfill } from './shared/backfill-endpoint';
import { taskHubClient } from './shared/client';
import { serverError } from './shared/http';

export { type BackfillDeps, handleBackfill } from './shared/backfill-endpoint';

export const START_BACKFILL = 'startBackfill';

df.app.client.http(START_BACKFILL, {
  route: 'backfill',
  methods: ['POST'],
  authLevel: 'function',
  handler: (request: HttpRequest, client: df.DurableClient, context: InvocationContext) =>
    handleBackfill(request, taskHubClient(client, context), {
      findMissing: async (dataset, window) =>
        (
          await withAppRun(
            dataset,
            (message) => context.log(message),
            (ports) => findMissingStep(ports, { dataset, window }),
          )
        ).missing,
      planLoads: planAppLoads,
      ledger: appLedger((message) => context.log(message)),
      log: (message) => context.log(message),
      now: () => new Date(),
    }).catch(serverError(context, 'starting the backfill')),
});
