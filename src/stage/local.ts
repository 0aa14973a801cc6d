import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import * as lockfile from 'proper-lockfile';
import { LockBusyError } from '../common/errors';
import type {
  LockHolder,
  LockOptions,
  StageLock,
  LocalFile,
  StageLocation,
  StageStore,
  TextSink,
} from '../pipeline/ports';

/** A waiting person hears why nothing happens at most this often (the port's promise). */
export const LOCK_WAIT_REPORT_MS = 15_000;

/** What one try for a lock gives: the lock, or who holds it (when the lock records that). */
export type LockTry<T> = { readonly taken: T } | { readonly holder: LockHolder | undefined };

/**
 * The waiting both stage adapters share: try to take the lock, and while another holder has it, poll until
 * `options.waitMs` has passed (then `LockBusyError`), telling `onWait` who holds it at most every 15 s, and stopping
 * at once when `options.signal` aborts (with its reason).
 */
export async function waitForLock<T>(
  name: string,
  options: LockOptions,
  pollMs: number,
  tryTake: () => Promise<LockTry<T>>,
): Promise<T> {
  // NaN would never run out: the loop would poll forever.
  if (!(options.waitMs >= 0)) throw new Error(`waiting ${options.waitMs} ms for ${name} is not a time to wait`);
  const started = Date.now();
  let reportedAt: number | undefined;
  for (;;) {
    options.signal?.throwIfAborted();
    let attempt: LockTry<T>;
    try {
      attempt = await tryTake();
    } catch (error) {
      // A request cut short by the signal fails with the client's AbortError; the caller's reason says more.
      if (options.signal?.aborted) throw options.signal.reason;
      throw error;
    }
    if ('taken' in attempt) return attempt.taken;
    const now = Date.now();
    const waited = now - started;
    if (waited >= options.waitMs) {
      throw new LockBusyError(`another run holds ${name}; waited ${secondsText(waited)} s`, {
        holder: attempt.holder,
      });
    }
    if (options.onWait && (reportedAt === undefined || now - reportedAt >= LOCK_WAIT_REPORT_MS)) {
      reportedAt = now;
      options.onWait(waited, attempt.holder);
    }
    try {
      await sleep(Math.min(pollMs, options.waitMs - waited), undefined, { signal: options.signal });
    } catch (error) {
      // The timer's own AbortError says nothing; the caller's reason (a signal, a shutdown) does.
      if (options.signal?.aborted) throw options.signal.reason;
      throw error;
    }
  }
}

function secondsText(ms: number): string {
  return ms < 10_000 ? (ms / 1000).toFixed(1) : String(Math.round(ms / 1000));
}

/** The process that takes a lock, as the lock records it. */
export function thisHolder(): { readonly pid: number; readonly host: string } {
  return { pid: process.pid, host: hostname() };
}

/** Whether a recorded holder still runs: knowable only for a process on this machine. */
export function holderRunning(pid: number | undefined, host: string | undefined): boolean | undefined {
  if (pid === undefined || host !== hostname()) return undefined;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface LocalStageOptions {
  /**
   * A lock file not updated for this long is stale: its holder died, and the next run takes it over. Default 30 s;
   * the holder updates it three times within that. The library allows no less than 2 s (tests use that).
   */
  readonly lockStaleMs?: number;
  /** How often a waiting run tries again for a lock another run holds. Default 1 s (a local mkdir is cheap). */
  readonly lockPollMs?: number;
}

export const DEFAULT_LOCK_STALE_MS = 30_000;
const DEFAULT_LOCAL_LOCK_POLL_MS = 1_000;

/** The embedded default: staged files in a directory on this machine (`<data-dir>` on the command line). */
export class LocalStageStore implements StageStore {
  readonly location: StageLocation;
  readonly description: string;
  readonly lockExpiryMs: number;
  private readonly root: string;
  private readonly lockStaleMs: number;
  private readonly lockPollMs: number;

  constructor(root: string, options: LocalStageOptions = {}) {
    this.root = resolve(root);
    this.location = { kind: 'local', root: this.root };
    this.description = `local directory ${this.root}`;
    this.lockStaleMs = options.lockStaleMs ?? DEFAULT_LOCK_STALE_MS;
    this.lockPollMs = options.lockPollMs ?? DEFAULT_LOCAL_LOCK_POLL_MS;
    this.lockExpiryMs = this.lockStaleMs;
  }

  /** The absolute file for a store path; refuses paths that would leave the root. */
  pathOf(path: string): string {
    const full = resolve(this.root, path);
    const inside = relative(this.root, full);
    if (inside.startsWith('..') || isAbsolute(inside)) throw new Error(`stage path "${path}" leaves ${this.root}`);
    return full;
  }

  async createSink(path: string): Promise<TextSink> {
    const file = this.pathOf(path);
    await mkdir(dirname(file), { recursive: true });
    const stream = createWriteStream(file, { encoding: 'utf8' });
    // Kept rather than thrown from an event: the next write or close reports it to the caller.
    let failure: Error | undefined;
    stream.on('error', (error) => {
      failure ??= error;
    });
    await once(stream, 'open');
    return {
      async write(text) {
        if (failure) throw failure;
        if (!stream.write(text)) await once(stream, 'drain');
      },
      async close() {
        if (failure) throw failure;
        stream.end();
        await finished(stream);
      },
      async abort() {
        stream.destroy();
      },
    };
  }

  /**
   * Whole-file writes go through a temporary name and a rename, so readers never see half a file. The temporary
   * name is unique per write: two writes of one file in one process (overlapping units) never share it.
   */
  async writeText(path: string, text: string): Promise<void> {
    const file = this.pathOf(path);
    await mkdir(dirname(file), { recursive: true });
    const temporary = `${file}.${process.pid}.${randomUUID()}.tmp`;
    try {
      await writeFile(temporary, text, 'utf8');
      await rename(temporary, file);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async readText(path: string): Promise<string | undefined> {
    try {
      return await readFile(this.pathOf(path), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async remove(path: string): Promise<void> {
    await rm(this.pathOf(path), { force: true });
  }

  async deletePrefix(prefix: string): Promise<void> {
    await rm(this.pathOf(prefix), { recursive: true, force: true });
  }

  async localFile(path: string): Promise<LocalFile> {
    return { path: this.pathOf(path), release: async () => undefined };
  }

  async listFiles(prefix: string): Promise<string[]> {
    const files: string[] = [];
    const walk = async (directory: string, storePath: string): Promise<void> => {
      const entries = await readdir(directory, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return [];
        throw error;
      });
      for (const entry of entries) {
        const child = `${storePath}/${entry.name}`;
        if (entry.isDirectory()) await walk(resolve(directory, entry.name), child);
        else if (entry.isFile()) files.push(child);
      }
    };
    await walk(this.pathOf(prefix), prefix);
    return files;
  }

  /**
   * A lock file (proper-lockfile's lock directory) at the store path `name`. Its holder touches it every third of
   * the stale period; a file left by a killed run goes stale and is taken over, and a holder whose file was taken
   * over or removed learns it through `lost` instead of an exception thrown from a timer. Beside it,
   * `<name>.holder.json` records who holds it (PID and host), for a waiting person.
   */
  async acquireLock(name: string, options: LockOptions): Promise<StageLock> {
    const file = this.pathOf(name);
    const holderFile = `${file}.holder.json`;
    await mkdir(dirname(file), { recursive: true });
    const lost = new AbortController();
    const unlock = await waitForLock<() => Promise<void>>(name, options, this.lockPollMs, async () => {
      try {
        const taken = await lockfile.lock(file, {
          // The lock itself is at `name`; nothing else need exist, and no symlink is resolved.
          lockfilePath: file,
          realpath: false,
          stale: this.lockStaleMs,
          update: this.lockStaleMs / 3,
          retries: 0,
          onCompromised: (error) =>
            lost.abort(new Error(`lost the lock ${name} (${error.message}); another run may be working on it`)),
        });
        await writeFile(holderFile, JSON.stringify({ ...thisHolder(), acquiredAt: new Date().toISOString() }));
        return { taken };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ELOCKED') return { holder: await this.lockHolder(file) };
        throw error;
      }
    });
    let released: Promise<void> | undefined;
    return {
      lost: lost.signal,
      release: () =>
        (released ??= (async () => {
          // The record goes first, while the lock is still ours; a lock taken over is another run's, record too.
          if (!lost.signal.aborted) await rm(holderFile, { force: true });
          await unlock().catch((error: unknown) => {
            // Already gone (taken over as stale, or removed): there is nothing left to release.
            const code = (error as NodeJS.ErrnoException).code;
            if (code !== 'ERELEASED' && code !== 'ENOTACQUIRED' && code !== 'ECOMPROMISED') throw error;
          });
        })()),
    };
  }

  /** Who holds the lock at `file`: the holder file's PID and host, and the lock's last renewal (its mtime). */
  private async lockHolder(file: string): Promise<LockHolder | undefined> {
    const [lock, recorded] = await Promise.all([
      stat(file).catch(() => undefined),
      readFile(`${file}.holder.json`, 'utf8')
        .then((text) => JSON.parse(text) as { pid?: unknown; host?: unknown })
        .catch(() => undefined),
    ]);
    if (!lock) return undefined;
    const pid = typeof recorded?.pid === 'number' ? recorded.pid : undefined;
    const host = typeof recorded?.host === 'string' ? recorded.host : undefined;
    const running = holderRunning(pid, host);
    return {
      ...(pid !== undefined ? { pid } : {}),
      ...(host !== undefined ? { host } : {}),
      renewedAt: lock.mtime.toISOString(),
      expiresAt: new Date(lock.mtime.getTime() + this.lockStaleMs).toISOString(),
      ...(running !== undefined ? { running } : {}),
    };
  }
}
