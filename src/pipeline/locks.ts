/**
 * The locks a step holds on the stage: one run of a window at a time, and loads into one table in turn. Both live
 * on the stage (a lock file, or a renewed blob lease), so they hold across processes and machines.
 */
import { LockBusyError, TransientError } from '../common/errors';
import type { DatasetDefinition } from './datasets';
import type { StageLock, StepPorts } from './ports';
import { type Window, describeWindow, windowKey } from './window';

const DEFAULT_WINDOW_LOCK_WAIT_MS = 30_000;
/** Loads into one table take turns; a MERGE of a few chunks takes minutes at most. */
const DEFAULT_TABLE_LOCK_WAIT_MS = 10 * 60_000;

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
    ports.tuning?.windowLockWaitMs ?? DEFAULT_WINDOW_LOCK_WAIT_MS,
    `another run is working on ${what}`,
    work,
  );
}

export async function withTableLock<T>(
  ports: StepPorts,
  dataset: DatasetDefinition,
  work: () => Promise<T>,
): Promise<T> {
  return withLock(
    ports,
    tableLockName(dataset),
    ports.tuning?.tableLockWaitMs ?? DEFAULT_TABLE_LOCK_WAIT_MS,
    `another load into ${ports.warehouse.tableName(dataset)} is running`,
    work,
  );
}

/**
 * A step's work on the table, under the table's lock, closing the warehouse before the lock goes: an embedded
 * DuckDB file is then free for the next step, in this process or another, and two MERGEs never overlap.
 */
export async function withTable<T>(ports: StepPorts, dataset: DatasetDefinition, work: () => Promise<T>): Promise<T> {
  return withTableLock(ports, dataset, async () => {
    try {
      return await work();
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
      onWait: (waited) =>
        ports.progress(`${holder}; waiting (${Math.round(waited / 1000)} s of at most ${Math.round(waitMs / 1000)} s)`),
    });
  } catch (error) {
    if (error instanceof LockBusyError) {
      throw new LockBusyError(`${holder}; try again when it is done`, { cause: error });
    }
    throw error;
  }
  const signal = ports.signal ? AbortSignal.any([ports.signal, lock.lost]) : lock.lost;
  try {
    const result = await work(signal);
    if (lock.lost.aborted) throw new TransientError(`the lock ${name} was lost while working; run again`);
    return result;
  } finally {
    await lock.release();
  }
}
