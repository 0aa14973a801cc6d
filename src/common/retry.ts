import { setTimeout as sleep } from 'node:timers/promises';
import { TransientError, errorKind, messageOf } from './errors';

/**
 * Bounded exponential backoff with full jitter, shared by the source client and the Databricks driver.
 * Whether to retry is decided by the error's kind alone (see errors.ts).
 */
export interface RetryPolicy {
  /** Total tries, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** No new attempt starts once this long has passed since the first began; unset, only `attempts` bounds it. */
  readonly budgetMs?: number;
  /**
   * The longest a server's Retry-After is waited out (default `maxDelayMs`); a longer one is cut to it, and the
   * retry event's `limit` says so.
   */
  readonly maxServerDelayMs?: number;
}

export interface RetryEvent {
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: unknown;
  /**
   * The limits in force, for the retry line: `attempt 2 of 6, gives up 180 s after the first`, led by
   * `Retry-After 3600 s capped at 60 s` when the server asked for longer than the policy waits.
   */
  readonly limit: string;
}

/** How often someone waiting is told that the wait goes on. */
export const PROGRESS_INTERVAL_MS = 15_000;

export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(random() * ceiling);
}

export interface RetryOptions {
  onRetry?: (event: RetryEvent) => void;
  what?: string;
  /** Stops waiting between attempts; the attempt itself must watch it too. */
  signal?: AbortSignal | undefined;
  /** Tests capture the delays instead of waiting them out. */
  sleep?: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
  now?: () => number;
}

/** What an attempt may use of the budget that is left, so a slow last attempt cannot overrun it. */
export interface AttemptContext {
  readonly attempt: number;
  /** Milliseconds left of `budgetMs`, or undefined without a budget. */
  readonly remainingMs: number | undefined;
}

/**
 * Runs `attempt` until it succeeds, throws something that is not transient, or the policy runs out. Giving
 * up throws a transient error naming the limit that fired, with the last failure as its cause: an outer
 * driver may still try the whole step again later. A server's Retry-After is honoured up to `maxServerDelayMs`
 * (default `maxDelayMs`); the backoff never waits less than it would without one.
 */
export async function withRetry<T>(
  attempt: (context: AttemptContext) => Promise<T>,
  policy: RetryPolicy,
  options: RetryOptions = {},
): Promise<T> {
  const now = options.now ?? Date.now;
  const wait = options.sleep ?? defaultSleep;
  const started = now();
  const what = options.what ?? 'the operation';
  for (let attemptNumber = 1; ; attemptNumber += 1) {
    const elapsed = now() - started;
    const remainingMs = policy.budgetMs === undefined ? undefined : Math.max(0, policy.budgetMs - elapsed);
    try {
      return await attempt({ attempt: attemptNumber, remainingMs });
    } catch (error) {
      if (options.signal?.aborted || errorKind(error) !== 'transient') throw error;
      const serverDelay = error instanceof TransientError ? (error.retryAfterMs ?? 0) : 0;
      const serverCap = policy.maxServerDelayMs ?? policy.maxDelayMs;
      const delayMs = Math.max(Math.min(serverDelay, serverCap), backoffDelay(policy, attemptNumber));
      const spent = now() - started;
      if (attemptNumber >= policy.attempts) {
        throw new TransientError(
          `${what} failed after ${attemptNumber} attempts (limit: ${policy.attempts} attempts): ${messageOf(error)}`,
          { cause: error },
        );
      }
      if (policy.budgetMs !== undefined && spent + delayMs >= policy.budgetMs) {
        throw new TransientError(
          `${what} gave up after ${Math.round(spent / 1000)} s and ${attemptNumber} attempts ` +
            `(limit: ${Math.round(policy.budgetMs / 1000)} s in all): ${messageOf(error)}`,
          { cause: error },
        );
      }
      const capped =
        serverDelay > serverCap
          ? `Retry-After ${Math.round(serverDelay / 1000)} s capped at ${Math.round(serverCap / 1000)} s; `
          : '';
      options.onRetry?.({
        attempt: attemptNumber,
        delayMs,
        error,
        limit: `${capped}attempt ${attemptNumber + 1} of ${policy.attempts}${
          policy.budgetMs === undefined ? '' : `, gives up ${Math.round(policy.budgetMs / 1000)} s after the first`
        }`,
      });
      await wait(delayMs, options.signal);
    }
  }
}

async function defaultSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  await sleep(ms, undefined, signal ? { signal } : {}).catch((error: unknown) => {
    throw signal?.aborted ? signal.reason : error;
  });
}

/**
 * Calls `report` every `PROGRESS_INTERVAL_MS` with the time waited so far, until the returned function is
 * called; what a person sees while a request, a lock or a warehouse keeps them waiting.
 */
export function reportWhileWaiting(report: (waitedMs: number) => void, intervalMs = PROGRESS_INTERVAL_MS): () => void {
  const started = Date.now();
  const timer = setInterval(() => report(Date.now() - started), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
