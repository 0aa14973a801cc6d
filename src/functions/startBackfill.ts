import * as df from 'durable-functions';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { InputError } from '../common/errors';
import { findMissingStep } from '../pipeline/steps';
import type { Window } from '../pipeline/window';
import { planAppLoads, withAppRun } from '../run/app';
import { batchWindows, planBackfill, splitUnits } from '../schedule/backfill-plan';
import { type BackfillRequest, parseBackfillRequest } from '../schedule/backfill-request';
import { backfillInstanceId, isActive } from '../schedule/instances';
import type { BackfillRunInput } from '../schedule/messages';
import { BACKFILL_ORCHESTRATOR } from './backfillOrchestrator';
import { failedUnits } from './shared/backfill';
import { type RunsClient, findInstance, startOnce } from './shared/client';
import { badRequest, json, readJson, serverError, statusUrl } from './shared/http';

export const START_BACKFILL = 'startBackfill';

export interface BackfillDeps {
  /** The parts of a range with no rows in the table; only the `missing` mode's dry run asks here directly. */
  readonly findMissing: (dataset: string, window: Window) => Promise<readonly Window[]>;
  /** The exact SQL the loads of these batches of units would run. */
  readonly planLoads: (input: {
    dataset: string;
    batches: readonly (readonly Window[])[];
  }) => Promise<readonly string[]>;
  readonly log: (message: string) => void;
}

/**
 * `POST /api/backfill`: 400 naming the field (nothing started), 409 when the same backfill (dataset, range,
 * mode) is running, 200 with the plan for a dry run (nothing started), else 202 with our own status URL.
 */
export async function handleBackfill(
  request: HttpRequest,
  client: RunsClient,
  deps: BackfillDeps,
): Promise<HttpResponseInit> {
  let backfill: BackfillRequest;
  try {
    backfill = parseBackfillRequest(await readJson(request));
  } catch (error) {
    if (error instanceof InputError) return badRequest(error);
    throw error;
  }
  const { dataset, window, mode, dryRun, maxConcurrency } = backfill;
  const instanceId = backfillInstanceId(dataset, window, mode);
  const link = { instanceId, statusUrl: statusUrl(request, instanceId) };
  const running = await findInstance(client, instanceId);
  if (running !== undefined && isActive(running.runtimeStatus)) {
    return json(409, {
      error: { message: `this backfill is already ${running.runtimeStatus.toLowerCase()}` },
      ...link,
    });
  }

  // The missing parts are the orchestration's to find (one aggregate query, in an activity); a dry run asks now.
  const units =
    mode === 'failed'
      ? await failedUnits(client, dataset, window)
      : mode === 'missing' && !dryRun
        ? undefined
        : splitUnits(dataset, mode === 'missing' ? await deps.findMissing(dataset, window) : [window]);
  const plan = units && planBackfill(dataset, units, maxConcurrency);
  const asked = { dataset, window, mode, maxConcurrency };

  if (dryRun) {
    const batches = batchWindows(units ?? [], plan?.batches ?? []);
    const statements = batches.length > 0 ? await deps.planLoads({ dataset, batches }) : [];
    return json(200, {
      dryRun: true,
      ...asked,
      instanceId,
      units: plan?.units ?? [],
      waves: plan?.waves ?? 0,
      batches: batches.map((batch) => ({ start: batch[0]?.start, stop: batch.at(-1)?.stop, units: batch.length })),
      estimatedRows: plan?.estimatedRows ?? 0,
      estimatedRequests: plan?.estimatedRequests ?? 0,
      merges: plan?.merges ?? 0,
      statements,
    });
  }
  if (units !== undefined && units.length === 0) {
    return json(200, {
      started: false,
      ...asked,
      instanceId,
      message: `no unit of this range needs a ${mode} backfill`,
    });
  }

  const input: BackfillRunInput = { dataset, window, mode, maxConcurrency, ...(mode === 'failed' ? { units } : {}) };
  const started = await startOnce(client, BACKFILL_ORCHESTRATOR, instanceId, input, true);
  if (!started.started) return json(409, { error: { message: `this backfill is ${started.reason}` }, ...link });
  deps.log(
    `backfill ${instanceId} started: ${plan ? `${plan.units.length} units, ~${plan.estimatedRequests} source requests, ${plan.merges} MERGEs` : 'units follow from the missing weeks'}`,
  );
  return json(
    202,
    {
      ...link,
      ...asked,
      units: plan?.units.length ?? null,
      estimatedRequests: plan?.estimatedRequests ?? null,
      merges: plan?.merges ?? null,
    },
    { Location: link.statusUrl },
  );
}

df.app.client.http(START_BACKFILL, {
  route: 'backfill',
  methods: ['POST'],
  authLevel: 'function',
  handler: (request: HttpRequest, client: df.DurableClient, context: InvocationContext) =>
    handleBackfill(request, client, {
      findMissing: async (dataset, window) =>
        (
          await withAppRun(
            (message) => context.log(message),
            (ports) => findMissingStep(ports, { dataset, window }),
          )
        ).missing,
      planLoads: planAppLoads,
      log: (message) => context.log(message),
    }).catch(serverError(context, 'starting the backfill')),
});
