/**
 * Two kinds of failure, because callers react differently:
 * - `InputError`: the caller asked for something invalid (a flag, a setting, a request body). Nothing was
 *   touched; the CLI exits 2 and HTTP answers 400.
 * - anything else is a run failure: the CLI exits 1 with the cause.
 */
export class InputError extends Error {
  override readonly name = 'InputError';
  /** The flag, setting or field that was wrong, e.g. `--start-date` or `window.start`. */
  readonly field: string;

  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/** The one line a person reads: the message of the error and of each cause below it. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  while (current !== undefined && parts.length < 5) {
    const message = current instanceof Error ? current.message : String(current);
    if (message && !parts.some((part) => part.includes(message))) parts.push(message);
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(': ');
}

/** CONTRACT STUB (being implemented on main): how a driver decides to retry. */
export type ErrorKind = 'input' | 'transient' | 'terminal';

/** An error as JSON: what activities return and status endpoints show. */
export interface ErrorSummary {
  readonly kind: ErrorKind;
  readonly message: string;
  readonly field?: string;
}

export function errorKind(error: unknown): ErrorKind {
  return error instanceof InputError ? 'input' : 'terminal';
}

export function summarizeError(error: unknown): ErrorSummary {
  const kind = errorKind(error);
  return error instanceof InputError
    ? { kind, message: error.message, field: error.field }
    : { kind, message: describeError(error) };
}

/** CONTRACT STUB: another run holds the lock (the caller's message names the window). */
export class LockBusyError extends Error {
  override readonly name = 'LockBusyError';
}
