/**
 * Every failure has a kind, because every caller reacts to the kind alone:
 * - `input`: the caller asked for something invalid (a flag, a setting, a request body, a block). Nothing was
 *   touched; the CLI exits 2 and HTTP answers 400. Never retried.
 * - `transient`: another try may well succeed (throttling, a 5xx, a network fault, a source that moved while
 *   paging, a lock another run holds). Retried with bounded backoff, by the client that saw it and, once that
 *   gives up, by an outer driver such as Durable.
 * - `terminal`: the same call would fail the same way (a refused request, an invalid block, a SQL error, a
 *   shortfall in the table). Fails the run at once with the cause.
 * Adapters map third-party errors into these kinds in one place each; anything unmapped is terminal, so an
 * unknown failure is reported rather than retried for hours.
 */
export type ErrorKind = 'input' | 'transient' | 'terminal';

export class PipelineError extends Error {
  readonly kind: ErrorKind;

  constructor(kind: ErrorKind, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
  }
}

export class InputError extends PipelineError {
  override readonly name = 'InputError';
  /** The flag, setting or field that was wrong, e.g. `--start-date`, `BNT_STAGE` or `startDate`. */
  readonly field: string;

  constructor(field: string, message: string) {
    super('input', message);
    this.field = field;
  }
}

/** Worth another try, after at least `retryAfterMs` if the server said so. */
export class TransientError extends PipelineError {
  override readonly name: string = 'TransientError';
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: { cause?: unknown; retryAfterMs?: number | undefined } = {}) {
    super('transient', message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

export class TerminalError extends PipelineError {
  override readonly name: string = 'TerminalError';

  constructor(message: string, options: { cause?: unknown } = {}) {
    super('terminal', message, options);
  }
}

/** Another run holds the lock; it is transient because that run will finish (or its lock expire). */
export class LockBusyError extends TransientError {
  override readonly name = 'LockBusyError';
  /** Who holds it, as the lock records it (see `LockHolder` in the stage port). */
  readonly holder: unknown;

  constructor(message: string, options: { cause?: unknown; holder?: unknown } = {}) {
    super(message, options);
    this.holder = options.holder;
  }
}

/** The kind of any thrown value: its own, or terminal for anything no adapter mapped. */
export function errorKind(error: unknown): ErrorKind {
  return error instanceof PipelineError ? error.kind : 'terminal';
}

/** An error as JSON: what activities return, status endpoints show and `--json` prints. */
export interface ErrorSummary {
  readonly kind: ErrorKind;
  readonly message: string;
  readonly field?: string;
}

export function summarizeError(error: unknown): ErrorSummary {
  const kind = errorKind(error);
  return error instanceof InputError
    ? { kind, message: error.message, field: error.field }
    : { kind, message: describeError(error) };
}

/** The message of anything thrown; drivers throw non-Error objects that still carry a message. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(error);
}

/** The HTTP status an SDK or driver error carries (`statusCode` or `status`), if any. */
export function httpStatusOf(error: unknown): number | undefined {
  const { statusCode, status } = (error ?? {}) as { statusCode?: unknown; status?: unknown };
  if (typeof statusCode === 'number') return statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The error and its causes, outermost first (bounded, in case of a cycle). */
export function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let current = error; current !== undefined && current !== null && chain.length < 8;) {
    chain.push(current);
    current = current instanceof Error ? current.cause : undefined;
  }
  return chain;
}

/**
 * The one line a person reads: the message of the error and of each cause below it, with line breaks folded
 * (engines such as DuckDB put a whole report in one message) and the whole cut to a readable length.
 */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  for (const link of causeChain(error).slice(0, 5)) {
    const message = oneLine(messageOf(link));
    if (message && !parts.some((part) => part.includes(message))) parts.push(message);
  }
  const text = parts.join(': ');
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE - 1)}…` : text;
}

const MAX_MESSAGE = 1_000;

function oneLine(text: string): string {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ');
}
