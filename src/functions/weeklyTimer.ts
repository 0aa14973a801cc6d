import * as df from 'durable-functions';
import type { InvocationContext, Timer } from '@azure/functions';
import { describeError } from '../common/errors';
import { describeWindow } from '../pipeline/window';
import { DEFAULT_SCHEDULE, readSetting } from '../run/settings';
import { weeklyDatasets } from '../schedule/datasets';
import { windowInstanceId } from '../schedule/instances';
import { runLogger } from '../schedule/log';
import { type Schedule, parseSchedule, windowForFire } from '../schedule/occurrence';
import type { WindowRunInput } from '../schedule/messages';
import { type RunsClient, type StartResult, startOnce } from './shared/client';
import { WINDOW_ORCHESTRATOR } from './windowOrchestrator';

export const WEEKLY_TIMER = 'weeklyTimer';

export interface WeeklyTimerDeps {
  readonly schedule: Schedule;
  readonly datasets: readonly string[];
  readonly now: () => Date;
  readonly log: (message: string) => void;
}

export type WeeklyStart = StartResult & { readonly dataset: string; readonly instanceId: string };

/**
 * Starts one window orchestration per configured dataset for the week of the schedule occurrence this fire
 * belongs to. A late, past-due or repeated fire finds the same instance ids: a running or completed window
 * starts nothing, a failed or terminated one starts again.
 */
export async function handleWeeklyTimer(
  timer: Timer,
  client: Pick<RunsClient, 'getStatus' | 'startNew'>,
  deps: WeeklyTimerDeps,
): Promise<WeeklyStart[]> {
  const invokedAt = deps.now();
  const { occurrence, window } = windowForFire(deps.schedule, invokedAt);
  deps.log(
    `fired at ${invokedAt.toISOString()}${timer.isPastDue ? ' (past due)' : ''} for the occurrence ${occurrence.toISOString()}` +
      ` of "${deps.schedule.expression}": window ${describeWindow(window)}`,
  );
  const starts: WeeklyStart[] = [];
  const failures: string[] = [];
  // One dataset failing to start must not keep the others from starting.
  for (const dataset of deps.datasets) {
    const instanceId = windowInstanceId(dataset, window);
    const log = runLogger(deps.log, { dataset, window, instanceId });
    const input: WindowRunInput = { dataset, window };
    try {
      const start = await startOnce(client, WINDOW_ORCHESTRATOR, instanceId, input, false);
      log(start.started ? `started: ${start.reason}` : `not started: ${start.reason}`);
      starts.push({ ...start, dataset, instanceId });
    } catch (error) {
      log(`could not be started: ${describeError(error)}`);
      failures.push(`${instanceId}: ${describeError(error)}`);
    }
  }
  // Timers do not retry; failing the invocation makes the miss visible (and the next fire or a backfill redoes it).
  if (failures.length > 0) throw new Error(`weekly windows not started: ${failures.join('; ')}`);
  return starts;
}

// Read once at load: a bad schedule or dataset list stops the app from starting, naming the setting.
const schedule = parseSchedule(readSetting(process.env, 'schedule') ?? DEFAULT_SCHEDULE);
const datasets = weeklyDatasets(readSetting(process.env, 'datasets'));

df.app.client.timer(WEEKLY_TIMER, {
  schedule: schedule.expression,
  handler: async (timer: Timer, client: df.DurableClient, context: InvocationContext) => {
    await handleWeeklyTimer(timer, client, {
      schedule,
      datasets,
      now: () => new Date(),
      log: (message) => context.log(message),
    });
  },
});
