import { setTimeout as sleep } from 'node:timers/promises';

/** Bounded exponential backoff with full jitter. Shared by the source client and the Databricks driver. */
export interface RetryPolicy {
  /** Total tries, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 1_000, maxDelayMs: 60_000 };

/** Thrown by an attempt to say: worth another try, after at least `retryAfterMs` if the server said so. */
export class TransientError extends Error {
  override readonly name = 'TransientError';
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: { cause?: unknown; retryAfterMs?: number | undefined } = {}) {
    super(message, { cause: options.cause });
    this.retryAfterMs = options.retryAfterMs;
  }
}

export interface RetryEvent {
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: unknown;
}

export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(random() * ceiling);
}

/**
 * Runs `attempt` until it succeeds, throws something other than a transient error, or the policy runs out.
 * `isTransient` decides for errors not thrown as `TransientError` (e.g. a driver's own error classes).
 * A server's Retry-After is honoured, capped at the policy's maximum delay so a run cannot hang on it.
 */
export async function withRetry<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  policy: RetryPolicy,
  options: {
    isTransient?: (error: unknown) => boolean;
    onRetry?: (event: RetryEvent) => void;
    what?: string;
    /** Stops waiting between attempts; the attempt itself must watch it too. */
    signal?: AbortSignal;
  } = {},
): Promise<T> {
  const isTransient = (error: unknown) => error instanceof TransientError || (options.isTransient?.(error) ?? false);
  for (let attemptNumber = 1; ; attemptNumber += 1) {
    try {
      return await attempt(attemptNumber);
    } catch (error) {
      if (options.signal?.aborted || !isTransient(error)) throw error;
      if (attemptNumber >= policy.attempts) {
        const what = options.what ?? 'the operation';
        const message = error instanceof Error ? error.message : String(error);
        throw new Error(`${what} failed after ${attemptNumber} attempts: ${message}`, { cause: error });
      }
      const serverDelay = error instanceof TransientError ? (error.retryAfterMs ?? 0) : 0;
      const delayMs = Math.min(policy.maxDelayMs, Math.max(serverDelay, backoffDelay(policy, attemptNumber)));
      options.onRetry?.({ attempt: attemptNumber, delayMs, error });
      await sleep(delayMs, undefined, options.signal ? { signal: options.signal } : {}).catch((sleepError: unknown) => {
        throw options.signal?.aborted ? options.signal.reason : sleepError;
      });
    }
  }
}
