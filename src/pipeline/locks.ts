/**
 * The locks a step holds on the stage: one run of a window at a time, and loads into one table in turn. Both live
 * on the stage (a lock file, or a renewed blob lease), so they hold across processes and machines.
 *
 * A run killed with `kill -9` (or a machine that died) leaves its lock until it expires: a lock file goes stale, a
 * lease runs out. A run waits for a window's lock longer than that, so a rerun right after a crash takes the lock
 * over and succeeds without anyone running it again; while it waits it says who holds the lock and until when.
 */
import { LockBusyError, TransientError } from '../common/errors';
import type { DatasetDefinition } from './datasets';
import type { LockHolder, StageLock, StageStore, StepPorts } from './ports';
import { type Window, describeWindow, windowKey } from './window';

/** How long a run waits at least for another run of the same window. Part of a step's bounded worst case. */
export const WINDOW_LOCK_WAIT_MS = 30_000;
/** Beyond a crashed holder's lock expiry: a waiter's poll interval and clocks a little apart. */
export const LOCK_TAKEOVER_MARGIN_MS = 15_000;
/**
 * How long a load, a count or a gap search waits for another load into the same table. Part of a step's
 * bounded worst case (see the Functions docs' retry arithmetic): the wait is short, and Durable's retry or a
 * later run waits again, rather than one attempt sitting for many minutes.
 */
export const TABLE_LOCK_WAIT_MS = 2 * 60_000;

/** How long a run waits for a window's lock: at least 30 s, and longer than a crashed holder's lock can last. */
export function windowLockWaitMs(stage: Pick<StageStore, 'lockExpiryMs'>): number {
  return Math.max(WINDOW_LOCK_WAIT_MS, (stage.lockExpiryMs ?? 0) + LOCK_TAKEOVER_MARGIN_MS);
}

/** How long a load waits for another load into its table: two minutes, longer than any lock of a crashed run. */
export function tableLockWaitMs(stage: Pick<StageStore, 'lockExpiryMs'>): number {
  return Math.max(TABLE_LOCK_WAIT_MS, (stage.lockExpiryMs ?? 0) + LOCK_TAKEOVER_MARGIN_MS);
}

/**
 * `held by PID 123 on host box (last renewed 2024-05-01T12:00:01Z, expires 2024-05-01T12:00:31Z unless renewed)`, and
 * when that process is gone: the lock frees itself then, and the waiting run takes it.
 */
export function describeHolder(holder: LockHolder | undefined): string {
  if (holder === undefined) return 'its holder is not recorded';
  const who =
    holder.pid !== undefined
      ? `PID ${holder.pid}${holder.host !== undefined ? ` on host ${holder.host}` : ''}`
      : 'a run that did not record itself';
  const times = [
    ...(holder.renewedAt ? [`last renewed ${seconds(holder.renewedAt)}`] : []),
    ...(holder.expiresAt ? [`expires ${seconds(holder.expiresAt)} unless renewed`] : []),
  ];
  const gone =
    holder.running === false
      ? `; PID ${holder.pid} no longer runs (a crashed run), so the lock frees itself${holder.expiresAt ? ` at ${seconds(holder.expiresAt)}` : ''} and this run takes it`
      : '';
  return `held by ${who}${times.length > 0 ? ` (${times.join(', ')})` : ''}${gone}`;
}

function seconds(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z');
}

/** `locks/<dataset>/<start>_<stop>`: one run of a window at a time, whatever started it. */
export function windowLockName(dataset: DatasetDefinition, window: Window): string {
  return `locks/${dataset.name}/${windowKey(window)}`;
}

/** `locks/<dataset>/table`: loads into one table take turns (two MERGEs into one table can conflict). */
export function tableLockName(dataset: DatasetDefinition): string {
  return `locks/${dataset.name}/table`;
}

export async function withWindowLock<T>(
  ports: StepPorts,
  dataset: DatasetDefinition,
  window: Window,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const what = `${dataset.name} ${describeWindow(window)}`;
  return withLock(
    ports,
    windowLockName(dataset, window),
    ports.tuning?.windowLockWaitMs ?? windowLockWaitMs(ports.stage),
    `another run is working on ${what}`,
    work,
  );
}

export async function withTableLock<T>(
  ports: StepPorts,
  dataset: DatasetDefinition,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  return withLock(
    ports,
    tableLockName(dataset),
    ports.tuning?.tableLockWaitMs ?? tableLockWaitMs(ports.stage),
    `another load into ${ports.warehouse.tableName(dataset)} is running`,
    work,
  );
}

/**
 * A step's work on the table, under the table's lock, closing the warehouse before the lock goes: an embedded
 * DuckDB file is then free for the next step, in this process or another, and two MERGEs never overlap.
 */
export async function withTable<T>(
  ports: StepPorts,
  dataset: DatasetDefinition,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  return withTableLock(ports, dataset, async (signal) => {
    try {
      return await work(signal);
    } finally {
      await ports.warehouse.close();
    }
  });
}

async function withLock<T>(
  ports: StepPorts,
  name: string,
  waitMs: number,
  holder: string,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  let lock: StageLock;
  try {
    lock = await ports.stage.acquireLock(name, {
      waitMs,
      signal: ports.signal,
      onWait: (waited, lockHolder) =>
        ports.progress(
          `${holder}: the lock is ${describeHolder(lockHolder)}; waiting (${Math.round(waited / 1000)} s of at most ${Math.round(waitMs / 1000)} s)`,
        ),
    });
  } catch (error) {
    if (error instanceof LockBusyError) {
      const lockHolder = error.holder as LockHolder | undefined;
      throw new LockBusyError(`${holder} (the lock is ${describeHolder(lockHolder)}); try again when it is done`, {
        cause: error,
        holder: lockHolder,
      });
    }
    throw error;
  }
  const signal = ports.signal ? AbortSignal.any([ports.signal, lock.lost]) : lock.lost;
  const lostError = () =>
    new TransientError(`the lock ${name} was lost while working; run again`, { cause: lock.lost.reason });
  try {
    let result: T;
    try {
      result = await work(signal);
    } catch (error) {
      // Work stopped because the lock went (a cancelled statement, an aborted request) failed for that reason,
      // which another try can fix: transient, whatever error the interrupted work threw.
      if (lock.lost.aborted && !ports.signal?.aborted) throw lostError();
      throw error;
    }
    if (lock.lost.aborted) throw lostError();
    return result;
  } finally {
    await lock.release();
  }
}
