import * as df from 'durable-functions';
import type { InvocationContext, Timer } from '@azure/functions';
import { readSetting } from '../run/settings';
import { FINISHED_STATUSES } from '../schedule/instances';
import { MAX_PURGED_PER_RUN, PURGE_SCHEDULE, purgeAfterDays, purgeCutoff, runsToPurge } from '../schedule/purge';
import { type RunsClient, collectInstances, taskHubClient } from './shared/client';

export const PURGE_HISTORY = 'purgeHistory';

/**
 * Daily: removes from the task hub every run that finished more than `BNT_PURGE_AFTER_DAYS` days ago
 * (default 30), so its tables and blobs do not grow forever. Candidates are listed without inputs, created
 * before the cutoff and finished; each is purged if it also finished before it. At most 1,000 a fire.
 */
export async function handlePurgeHistory(
  client: RunsClient,
  deps: { readonly days: number; readonly now: () => Date; readonly log: (message: string) => void },
): Promise<string[]> {
  const cutoff = purgeCutoff(deps.now(), deps.days);
  const { instances } = await collectInstances(
    client,
    { createdTimeTo: cutoff, runtimeStatus: FINISHED_STATUSES },
    { max: MAX_PURGED_PER_RUN },
  );
  const purged = runsToPurge(instances, cutoff);
  for (const instanceId of purged) await client.purgeInstanceHistory(instanceId);
  deps.log(
    `purged ${purged.length} run${purged.length === 1 ? '' : 's'} finished before ${cutoff.toISOString()} (${deps.days} days)`,
  );
  return purged;
}

// Read once at load: a bad value stops the app from starting, naming the setting.
const days = purgeAfterDays(readSetting(process.env, 'purgeAfterDays'));

df.app.client.timer(PURGE_HISTORY, {
  schedule: PURGE_SCHEDULE,
  handler: async (_timer: Timer, client: df.DurableClient, context: InvocationContext) => {
    await handlePurgeHistory(taskHubClient(client, context), {
      days,
      now: () => new Date(),
      log: (message) => context.log(message),
    });
  },
});
