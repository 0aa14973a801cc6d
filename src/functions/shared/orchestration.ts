import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import type { ReportRunInput } from '../../schedule/messages';
import { type StepOutcome, failureOfTask } from '../../schedule/outcome';
import { type ActivityName, LOAD_WINDOWS, PLAN_MISSING, REPORT_RUN, STAGE_WINDOW, VERIFY_WINDOW } from '../activities';

/**
 * Helpers for orchestrator generators (`yield*` them). They only build tasks and read results, so they are as
 * deterministic as the orchestrators that use them.
 */

/** Durable's retry of one activity: the first retry's delay, the attempts in all, the growth and the cap. */
export interface StepRetry {
  readonly firstRetryMs: number;
  readonly attempts: number;
  readonly backoffCoefficient: number;
  readonly maxRetryMs: number;
}

const RETRY_AFTER_A_MINUTE = { firstRetryMs: 60_000, backoffCoefficient: 2, maxRetryMs: 300_000 } as const;

/**
 * Retries for an activity that threw (only transient errors do), per activity. Every attempt already retries
 * inside itself (the source's requests, the lock waits, the warehouse's cold start), so the attempts here are
 * as many as keep each step's worst case, inner waits and all, at 15 minutes or less: the arithmetic is in
 * docs/functions.md, and test/functions/retry-budget.test.ts derives it from the constants.
 * - staging waits at most 3.5 minutes per attempt (window lock, source budget): three attempts;
 * - a gap search waits for the table lock and one warehouse start: two attempts;
 * - a verification may also ask the source for its newest date, and a load runs two statements (the table's
 *   creation and the MERGE), each with its own warehouse budget: one attempt each; a later run (the timer's
 *   next fire, a `failed` backfill) tries again;
 * - the summary lines wait on nothing: three attempts.
 */
export const STEP_RETRY = {
  [STAGE_WINDOW]: { ...RETRY_AFTER_A_MINUTE, attempts: 3 },
  [LOAD_WINDOWS]: { ...RETRY_AFTER_A_MINUTE, attempts: 1 },
  [VERIFY_WINDOW]: { ...RETRY_AFTER_A_MINUTE, attempts: 1 },
  [PLAN_MISSING]: { ...RETRY_AFTER_A_MINUTE, attempts: 2 },
  [REPORT_RUN]: { ...RETRY_AFTER_A_MINUTE, attempts: 3 },
} as const satisfies Record<ActivityName, StepRetry>;

export function stepRetryOptions(activity: ActivityName): df.RetryOptions {
  const retry: StepRetry = STEP_RETRY[activity];
  const options = new df.RetryOptions(retry.firstRetryMs, retry.attempts);
  options.backoffCoefficient = retry.backoffCoefficient;
  options.maxRetryIntervalInMilliseconds = retry.maxRetryMs;
  return options;
}

/** Runs an activity with its retries; a failure left after them becomes an outcome like any other. */
export function* callStep<T>(
  context: OrchestrationContext,
  activity: ActivityName,
  input: unknown,
): Generator<Task, StepOutcome<T>, unknown> {
  try {
    return (yield context.df.callActivityWithRetry(activity, stepRetryOptions(activity), input)) as StepOutcome<T>;
  } catch (error) {
    return { ok: false, error: failureOfTask(error) };
  }
}

/**
 * Waits for every task and returns each one's outcome. `Task.all` fails fast on the first failure and drops
 * the others; after one, this waits for the rest one by one so that no unit's result is lost.
 */
export function* settleAll<T>(
  context: OrchestrationContext,
  tasks: readonly Task[],
): Generator<Task, StepOutcome<T>[], unknown> {
  if (tasks.length === 0) return [];
  try {
    const results = (yield context.df.Task.all([...tasks])) as T[];
    return results.map((value) => ({ ok: true, value }));
  } catch {
    for (const task of tasks) {
      if (task.isCompleted || task.isFaulted) continue;
      try {
        yield task;
      } catch {
        // Its failure is read from the task below.
      }
    }
    return tasks.map((task) =>
      task.isCompleted ? { ok: true, value: task.result as T } : { ok: false, error: failureOfTask(task.result) },
    );
  }
}

/**
 * Writes the runs' ledger records and summary lines. A failure to write them is not the runs' failure (their
 * output and runtime status hold the same facts), so it is logged and the orchestration goes on.
 */
export function* reportRuns(context: OrchestrationContext, input: ReportRunInput): Generator<Task, void, unknown> {
  if (input.runs.length === 0) return;
  const reported = yield* callStep(context, REPORT_RUN, input);
  if (!reported.ok && !context.df.isReplaying) {
    context.warn(`the ledger records and summary lines could not be written: ${reported.error.message}`);
  }
}

/** Milliseconds since `startedAt` on the orchestration's replay-safe clock. */
export function elapsedMs(context: OrchestrationContext, startedAt: number): number {
  return context.df.currentUtcDateTime.getTime() - startedAt;
}
