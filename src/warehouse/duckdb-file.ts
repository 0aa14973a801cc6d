/**
 * Access to one DuckDB file, shared by everything that uses it: the warehouse's steps (any window, either dataset),
 * a CLI run beside a local Functions host, and a read-only `npm run sql`. DuckDB lets one process write a file
 * (or several read it), and its lock is per process, so:
 * - in one process, one DuckDB instance per file (from `@duckdb/node-api`'s instance cache), and its users take
 *   turns: two datasets' steps never write the file at once through two instances;
 * - across processes, a user whose open is refused because another process holds the file waits its turn, with
 *   progress lines, for a bounded time, then fails as transient (the holder will finish).
 * Holders keep the file only as long as a step needs it, so the others' turns come.
 * This is also the one place DuckDB's errors are condensed and given a kind.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import { TerminalError, TransientError, messageOf } from '../common/errors';

/** How long a user of the file waits for its turn: a step's MERGE or count takes seconds to minutes. */
export const DEFAULT_FILE_WAIT_MS = 10 * 60_000;
/** How often a waiting process tries the file again. */
const FILE_POLL_MS = 500;
/** A waiting person hears why nothing happens at most this often. */
const WAIT_REPORT_MS = 15_000;

export interface FileWait {
  /** The longest wait for the file, in this process and across processes together. */
  readonly waitMs?: number;
  /** Told at most every 15 s while waiting, with the holder when DuckDB names it. */
  readonly onWait?: (message: string) => void;
  readonly signal?: AbortSignal | undefined;
  /** Tests poll faster. */
  readonly pollMs?: number;
}

/** DuckDB's refusal when another process holds the file: `… Conflicting lock is held in /usr/bin/node (PID 123)`. */
export function isFileLocked(error: unknown): boolean {
  return /Could not set lock on file|Conflicting lock/i.test(messageOf(error));
}

function holderOf(error: unknown): string {
  const pid = /\(PID (\d+)\)/.exec(messageOf(error))?.[1];
  return pid ? `another process (PID ${pid})` : 'another process';
}

/**
 * DuckDB's message as one line: its first lines say what is wrong; from `LINE n:` on it repeats the statement with
 * a caret under the fault, which only makes sense in a fixed-width block.
 */
export function condenseDuckDbError(message: string): string {
  const lines: string[] = [];
  // The client's wrapper for a statement that did not parse adds nothing the parser's own words do not say.
  for (const line of message.replace(/^Failed to extract statements: /, '').split('\n')) {
    if (/^LINE \d+:/.test(line)) break;
    if (line.trim() !== '') lines.push(line.trim());
  }
  return lines.join(' ');
}

/** The table or schema a statement named that does not exist yet (`Catalog Error: Table with name x does not exist`). */
export function missingCatalogEntry(error: unknown): string | undefined {
  return /(?:Table|Schema) with name (\S+) does not exist/i.exec(messageOf(error))?.[1];
}

/** One turn at a time on a file in this process, in the order asked; a waiter that gives up leaves the queue. */
class Turns {
  private held = false;
  private readonly waiting: (() => void)[] = [];

  get busy(): boolean {
    return this.held;
  }

  async take(deadline: number, signal: AbortSignal | undefined): Promise<() => void> {
    if (this.held) {
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          cleanup();
          resolve();
        };
        const give = (error: Error) => {
          cleanup();
          this.waiting.splice(this.waiting.indexOf(wake), 1);
          reject(error);
        };
        const timer = setTimeout(
          () => give(new TransientError('another step of this process kept the file')),
          Math.max(0, deadline - Date.now()),
        );
        const onAbort = () => give(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
        const cleanup = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiting.push(wake);
      });
    }
    this.held = true;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The turn passes straight to the next waiter, so no one slips in between.
      if (next) next();
      else this.held = false;
    };
  }
}

const turnsByFile = new Map<string, Turns>();

function turnsOf(file: string): Turns {
  let turns = turnsByFile.get(file);
  if (!turns) {
    turns = new Turns();
    turnsByFile.set(file, turns);
  }
  return turns;
}

/** True when a step of this process holds the file now. */
export function heldInThisProcess(file: string): boolean {
  return turnsOf(file).busy;
}

/** The file, opened for writing, for as long as one step needs it; `release` closes it for the next. */
export interface FileTurn {
  readonly instance: DuckDBInstance;
  release(): void;
}

/**
 * Waits for this process's turn on the file, then for the file itself (another process may hold it), and opens it
 * from the instance cache. Waiting longer than `waitMs` in all is a transient error naming the holder.
 */
export async function takeFileTurn(file: string, wait: FileWait = {}): Promise<FileTurn> {
  const waitMs = wait.waitMs ?? DEFAULT_FILE_WAIT_MS;
  const started = Date.now();
  const deadline = started + waitMs;
  const turns = turnsOf(file);
  if (turns.busy) wait.onWait?.(`the DuckDB file ${file} is in use by another step of this process; waiting its turn`);
  let release: () => void;
  try {
    release = await turns.take(deadline, wait.signal);
  } catch (error) {
    if (wait.signal?.aborted) throw wait.signal.reason;
    throw new TransientError(
      `the DuckDB file ${file} was still in use by another step of this process after ${seconds(waitMs)} s; run again`,
      { cause: error },
    );
  }
  try {
    await mkdir(dirname(file), { recursive: true });
    const instance = await openWaiting(file, wait, started, () => DuckDBInstance.fromCache(file));
    return { instance, release };
  } catch (error) {
    release();
    throw error;
  }
}

/** The file opened read-only (`npm run sql`), waiting while a writer in another process has it. */
export async function openReadOnly(file: string, wait: FileWait = {}): Promise<DuckDBInstance> {
  // Read-only: nothing a query says can change the table. Never fetch an extension from the network.
  return openWaiting(file, wait, Date.now(), () =>
    DuckDBInstance.create(file, { access_mode: 'READ_ONLY', autoinstall_known_extensions: 'false' }),
  );
}

/** One open attempt, and no wait: for a preflight that only reports who holds the file. */
export async function tryOpen(file: string): Promise<{ instance: DuckDBInstance } | { heldBy: string }> {
  await mkdir(dirname(file), { recursive: true });
  try {
    return { instance: await DuckDBInstance.fromCache(file) };
  } catch (error) {
    if (isFileLocked(error)) return { heldBy: holderOf(error) };
    throw openError(file, error);
  }
}

async function openWaiting(
  file: string,
  wait: FileWait,
  started: number,
  open: () => Promise<DuckDBInstance>,
): Promise<DuckDBInstance> {
  const waitMs = wait.waitMs ?? DEFAULT_FILE_WAIT_MS;
  const pollMs = wait.pollMs ?? FILE_POLL_MS;
  let reportedAt: number | undefined;
  for (;;) {
    wait.signal?.throwIfAborted();
    try {
      return await open();
    } catch (error) {
      if (!isFileLocked(error)) throw openError(file, error);
      const now = Date.now();
      const waited = now - started;
      const holder = holderOf(error);
      if (waited >= waitMs) {
        throw new TransientError(
          `the DuckDB file ${file} was still in use by ${holder} after ${seconds(waited)} s (DuckDB lets one process write a file); run again when it is done`,
        );
      }
      if (wait.onWait && (reportedAt === undefined || now - reportedAt >= WAIT_REPORT_MS)) {
        reportedAt = now;
        wait.onWait(
          `the DuckDB file ${file} is in use by ${holder}; waiting its turn (${seconds(waited)} s of at most ${seconds(waitMs)} s)`,
        );
      }
      try {
        // A little jitter, so two waiters do not ask in lock step.
        await sleep(Math.min(pollMs * (0.5 + Math.random()), waitMs - waited), undefined, { signal: wait.signal });
      } catch (sleepError) {
        if (wait.signal?.aborted) throw wait.signal.reason;
        throw sleepError;
      }
    }
  }
}

/**
 * A file DuckDB cannot open for another reason than a holder: not a database, no permission, a full disk. The
 * condensed message replaces DuckDB's multi-line one; as a cause it would be printed again.
 */
function openError(file: string, error: unknown): Error {
  return new TerminalError(`the DuckDB file ${file} cannot be opened: ${condenseDuckDbError(messageOf(error))}`);
}

function seconds(ms: number): number {
  return Math.round(ms / 1000);
}
