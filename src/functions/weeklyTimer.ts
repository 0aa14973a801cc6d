import * as df from 'durable-functions';
import type { InvocationContext, Timer } from '@azure/functions';
import { describeError } from '../common/errors';
import type { RunLedger } from '../pipeline/ledger';
import { type Window, describeWindow } from '../pipeline/window';
import { appLedger } from '../run/app';
import { DEFAULT_SCHEDULE, readSetting } from '../run/settings';
import { weeklyDatasets } from '../schedule/datasets';
import { type WeekToHeal, healWeeks, weeksToHeal } from '../schedule/heal';
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
  /** How many weeks before the fire's own to heal (0: none). */
  readonly healWeeks: number;
  /** The run ledger, which says which earlier weeks failed or never ran. */
  readonly ledger: Pick<RunLedger, 'entries'>;
  readonly now: () => Date;
  readonly log: (message: string) => void;
}

export type WeeklyStart = StartResult & {
  readonly dataset: string;
  readonly instanceId: string;
  readonly window: Window;
  /** Set for an earlier week started again: why it needed it. */
  readonly healing?: WeekToHeal['state'];
};

/**
 * Starts one window orchestration per configured dataset for the week of the schedule occurrence this fire
 * belongs to. A late, past-due or repeated fire finds the same instance ids: a running or completed window
 * starts nothing, a failed or terminated one starts again. Then it heals: each of the `healWeeks` weeks before
 * whose latest run (in the run ledger) failed, or that was never run, is started as its own window orchestration
 * under its usual id — again if that instance completed or failed, never beside one that is running.
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
  const start = async (dataset: string, week: Window, healing?: WeekToHeal['state']) => {
    const instanceId = windowInstanceId(dataset, week);
    const log = runLogger(deps.log, { dataset, window: week, instanceId });
    const input: WindowRunInput = { dataset, window: week };
    const why = healing === undefined ? '' : `healing a ${healing === 'failed' ? 'failed' : 'never run'} week: `;
    try {
      const started = await startOnce(client, WINDOW_ORCHESTRATOR, instanceId, input, healing !== undefined);
      log(`${why}${started.started ? `started: ${started.reason}` : `not started: ${started.reason}`}`);
      starts.push({ ...started, dataset, instanceId, window: week, ...(healing ? { healing } : {}) });
    } catch (error) {
      log(`${why}could not be started: ${describeError(error)}`);
      failures.push(`${instanceId}: ${describeError(error)}`);
    }
  };
  // One dataset failing to start must not keep the others from starting; this week's windows go first.
  for (const dataset of deps.datasets) await start(dataset, window);
  if (deps.healWeeks > 0) {
    for (const dataset of deps.datasets) {
      let heal: WeekToHeal[];
      try {
        heal = weeksToHeal(dataset, window, deps.healWeeks, await deps.ledger.entries(dataset));
      } catch (error) {
        deps.log(
          `[${dataset}] the run ledger could not be read, so no earlier week is healed: ${describeError(error)}`,
        );
        failures.push(`${dataset}'s run ledger: ${describeError(error)}`);
        continue;
      }
      for (const week of heal) await start(dataset, week.window, week.state);
    }
  }
  // Timers do not retry; failing the invocation makes the miss visible (and the next fire or a backfill redoes it).
  if (failures.length > 0) throw new Error(`weekly windows not started: ${failures.join('; ')}`);
  return starts;
}

// Read once at load: a bad schedule or dataset list stops the app from starting, naming the setting.
const schedule = parseSchedule(readSetting(process.env, 'schedule') ?? DEFAULT_SCHEDULE);
const datasets = weeklyDatasets(readSetting(process.env, 'datasets'));
const weeksHealed = healWeeks(readSetting(process.env, 'healWeeks'));

df.app.client.timer(WEEKLY_TIMER, {
  schedule: schedule.expression,
  handler: async (timer: Timer, client: df.DurableClient, context: InvocationContext) => {
    await handleWeeklyTimer(timer, client, {
      schedule,
      datasets,
      healWeeks: weeksHealed,
      ledger: appLedger((message) => context.log(message)),
      now: () => new Date(),
      log: (message) => context.log(message),
    });
  },
});
