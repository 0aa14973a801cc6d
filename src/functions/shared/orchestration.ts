import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import type { ReportRunInput } from '../../schedule/messages';
import { type StepOutcome, failureOfTask } from '../../schedule/outcome';

/**
 * Helpers for orchestrator generators (`yield*` them). They only build tasks and read results, so they are as
 * deterministic as the orchestrators that use them.
 */

/**
 * Retries for an activity that threw (only transient errors do): 60 s after the first failure, as the original
 * flow's table and load steps did, then doubling, three attempts in all. The steps retry single requests
 * inside an attempt already, so the worst case stays minutes, not hours.
 */
export const STEP_RETRY = { firstRetryMs: 60_000, attempts: 3, backoffCoefficient: 2, maxRetryMs: 300_000 } as const;

export function stepRetryOptions(): df.RetryOptions {
  const options = new df.RetryOptions(STEP_RETRY.firstRetryMs, STEP_RETRY.attempts);
  options.backoffCoefficient = STEP_RETRY.backoffCoefficient;
  options.maxRetryIntervalInMilliseconds = STEP_RETRY.maxRetryMs;
  return options;
}

/** Runs an activity with retries; a failure left after them becomes an outcome like any other. */
export function* callStep<T>(
  context: OrchestrationContext,
  activity: string,
  input: unknown,
): Generator<Task, StepOutcome<T>, unknown> {
  try {
    return (yield context.df.callActivityWithRetry(activity, stepRetryOptions(), input)) as StepOutcome<T>;
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
 * Writes the summary lines. A failure to log is not the run's failure: the run's output holds the same facts.
 */
export function* reportRuns(
  context: OrchestrationContext,
  activity: string,
  input: ReportRunInput,
): Generator<Task, void, unknown> {
  if (input.runs.length === 0) return;
  try {
    yield context.df.callActivityWithRetry(activity, stepRetryOptions(), input);
  } catch (error) {
    if (!context.df.isReplaying)
      context.warn(`the summary lines could not be written: ${failureOfTask(error).message}`);
  }
}

/** Milliseconds since `startedAt` on the orchestration's replay-safe clock. */
export function elapsedMs(context: OrchestrationContext, startedAt: number): number {
  return context.df.currentUtcDateTime.getTime() - startedAt;
}
