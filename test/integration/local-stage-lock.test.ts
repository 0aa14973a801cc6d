import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { LockBusyError, TransientError } from '../../src/common/errors';
import { BNT_HOURLY_TRAFFIC } from '../../src/pipeline/datasets';
import { withTableLock } from '../../src/pipeline/locks';
import type { StepPorts } from '../../src/pipeline/ports';
import { LocalStageStore } from '../../src/stage/local';
import { temporaryDirectory } from '../support/fixtures';

const LOCAL_STAGE_MODULE = join(__dirname, '..', '..', 'src', 'stage', 'local.ts');
const LOCK = 'locks/bnt-hourly-traffic/2024-01-07_2024-01-14';
/** The library's shortest stale period: a killed holder's lock frees within seconds, not the default 30. */
const FAST = { lockStaleMs: 2_000, lockPollMs: 50 };

/**
 * Waits for `promise`, failing after `ms`: a bound against a hang, not a timing assertion. Its timer also keeps the
 * event loop alive, since the lock's own timers are unref'd (a lock never keeps a process running by itself).
 */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('local stage lock', () => {
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
  beforeEach(async () => {
    directory = await temporaryDirectory();
  });
  afterEach(async () => {
    await directory.remove();
  });

  test('a second holder waits, is told why, then gets LockBusyError naming the lock', async () => {
    const first = await new LocalStageStore(directory.path, FAST).acquireLock(LOCK, { waitMs: 0 });
    const waits: number[] = [];
    await assert.rejects(
      new LocalStageStore(directory.path, FAST).acquireLock(LOCK, { waitMs: 300, onWait: (ms) => waits.push(ms) }),
      (error: unknown) => {
        assert.ok(error instanceof LockBusyError);
        assert.match(error.message, new RegExp(`^another run holds ${LOCK}; waited \\d+(\\.\\d)? s$`));
        return true;
      },
    );
    assert.ok(waits.length >= 1, 'onWait is called while waiting');
    assert.equal(first.lost.aborted, false, 'the holder keeps its lock');
    await first.release();
  });

  test('onWait is not repeated within 15 s', async () => {
    const first = await new LocalStageStore(directory.path, FAST).acquireLock(LOCK, { waitMs: 0 });
    const waits: number[] = [];
    await assert.rejects(
      new LocalStageStore(directory.path, { ...FAST, lockPollMs: 10 }).acquireLock(LOCK, {
        waitMs: 500,
        onWait: (ms) => waits.push(ms),
      }),
      LockBusyError,
    );
    // Dozens of polls in half a second, one notice.
    assert.equal(waits.length, 1);
    await first.release();
  });

  test('release lets the next run in, and a second release is harmless', async () => {
    const store = new LocalStageStore(directory.path, FAST);
    const first = await store.acquireLock(LOCK, { waitMs: 0 });
    let waited = false;
    const second = store.acquireLock(LOCK, { waitMs: 30_000, onWait: () => (waited = true) });
    while (!waited) await new Promise((resolve) => setTimeout(resolve, 10));
    await first.release();
    const next = await second;
    assert.equal(next.lost.aborted, false);
    await first.release();
    await next.release();
    await next.release();
    // Released for good: a third run takes it at once.
    await (await store.acquireLock(LOCK, { waitMs: 0 })).release();
  });

  test('the lock lives at the store path, its folder created, and is gone after release', async () => {
    const root = join(directory.path, 'not-yet-there');
    const lock = await new LocalStageStore(root, FAST).acquireLock(LOCK, { waitMs: 0 });
    assert.ok((await stat(join(root, LOCK))).isDirectory(), "proper-lockfile's lock is a directory");
    await lock.release();
    await assert.rejects(stat(join(root, LOCK)), { code: 'ENOENT' });
  });

  test('a wait that is not a time is refused rather than polled forever', async () => {
    await assert.rejects(
      new LocalStageStore(directory.path, FAST).acquireLock(LOCK, { waitMs: Number.NaN }),
      /waiting NaN ms .* is not a time to wait/,
    );
  });

  test('a lock name that leaves the stage root is refused', async () => {
    await assert.rejects(
      new LocalStageStore(directory.path, FAST).acquireLock('../outside', { waitMs: 0 }),
      /stage path "\.\.\/outside" leaves/,
    );
  });

  test('aborting the signal ends the wait with its reason', async () => {
    const first = await new LocalStageStore(directory.path, FAST).acquireLock(LOCK, { waitMs: 0 });
    const stop = new AbortController();
    const reason = new Error('SIGTERM received');
    await assert.rejects(
      new LocalStageStore(directory.path, FAST).acquireLock(LOCK, {
        waitMs: 60_000,
        signal: stop.signal,
        onWait: () => stop.abort(reason),
      }),
      (error: unknown) => error === reason,
    );
    await first.release();
  });

  test('a holder whose lock file is removed learns it through lost, and release still succeeds', async () => {
    const lock = await new LocalStageStore(directory.path, FAST).acquireLock(LOCK, { waitMs: 0 });
    await rm(join(directory.path, LOCK), { recursive: true });
    await within(once(lock.lost, 'abort'), 10_000, 'lost');
    assert.match(String((lock.lost.reason as Error).message), new RegExp(`^lost the lock ${LOCK}`));
    await lock.release();
  });

  test('work interrupted because its lock was lost fails as transient, whatever the interrupted work threw', async () => {
    const stage = new LocalStageStore(directory.path, FAST);
    const ports = {
      stage,
      warehouse: { tableName: () => 'bronze.bnt_traffic_hourly' },
      progress: () => undefined,
    } as unknown as StepPorts;
    const failure = await withTableLock(ports, BNT_HOURLY_TRAFFIC, async (signal) => {
      await rm(join(directory.path, 'locks/bnt-hourly-traffic/table'), { recursive: true });
      await within(once(signal, 'abort'), 10_000, 'lost');
      // What a cancelled statement or an aborted request throws: nothing in it says "try again".
      throw new Error('the statement was cancelled');
    }).catch((error: unknown) => error);
    assert.ok(failure instanceof TransientError, String(failure));
    assert.match(failure.message, /the lock locks\/bnt-hourly-traffic\/table was lost while working; run again/);
  });

  test('a lock held by a process killed with SIGKILL expires by itself and the next run takes it', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `const { LocalStageStore } = require(${JSON.stringify(LOCAL_STAGE_MODULE)});
         new LocalStageStore(${JSON.stringify(directory.path)}, { lockStaleMs: ${FAST.lockStaleMs} })
           .acquireLock(${JSON.stringify(LOCK)}, { waitMs: 0 })
           .then(() => { process.stdout.write('locked\\n'); setInterval(() => undefined, 1000); });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = once(child, 'exit');
    try {
      let output = '';
      for await (const chunk of child.stdout) {
        output += String(chunk);
        if (output.includes('locked')) break;
      }
      assert.match(output, /locked/);

      // While the child lives, it keeps its lock fresh.
      const store = new LocalStageStore(directory.path, FAST);
      await assert.rejects(store.acquireLock(LOCK, { waitMs: 500 }), LockBusyError);

      // No exit handler runs on SIGKILL: the lock file stays behind and only going stale frees it.
      child.kill('SIGKILL');
      await exited;
      assert.ok((await stat(join(directory.path, LOCK))).isDirectory(), 'the killed run left its lock');
      let waited = false;
      const lock = await store.acquireLock(LOCK, { waitMs: 30_000, onWait: () => (waited = true) });
      assert.ok(waited, 'the lock was still there until it went stale');
      assert.equal(lock.lost.aborted, false);
      await lock.release();
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  });
});
