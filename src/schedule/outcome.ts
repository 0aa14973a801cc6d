import { type ErrorKind, type ErrorSummary, errorKind, messageOf, summarizeError } from '../common/errors';

/**
 * What an activity returns. Durable retries an activity only when it throws, so an activity throws only the
 * errors worth retrying (`transient`) and returns the others as `{ ok: false }`: the orchestrator then fails
 * at once instead of repeating a bad request or a broken table three times.
 */
export type StepOutcome<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ErrorSummary };

/** Error messages travel through orchestration history and status answers: keep them to a readable line. */
export const MAX_ERROR_MESSAGE = 1_000;

export function shortened(message: string, max: number = MAX_ERROR_MESSAGE): string {
  return message.length <= max ? message : `${message.slice(0, max - 1)}…`;
}

/** A transient failure rethrown for Durable's retry, carrying the one-line summary rather than the original chain. */
export class TransientStepError extends Error {
  override readonly name = 'TransientStepError';
}

/** `kindOf` is the pipeline's classification; tests pass their own to pin the wrapper down. */
export async function stepOutcome<T>(
  work: () => Promise<T>,
  kindOf: (error: unknown) => ErrorKind = errorKind,
): Promise<StepOutcome<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    const kind = kindOf(error);
    const message = shortened(summarizeError(error).message);
    if (kind === 'transient') throw new TransientStepError(message, { cause: error });
    return { ok: false, error: { ...summarizeError(error), kind, message } };
  }
}

/**
 * The summary of an activity that still threw after its retries (or a sub-orchestration the runtime failed):
 * only transient errors are thrown by our activities, so that is its kind.
 */
export function failureOfTask(error: unknown): ErrorSummary {
  const message = messageOf(error);
  return { kind: 'transient', message: shortened(message.trim()) };
}
