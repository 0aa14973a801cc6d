/**
 * A run killed with SIGKILL leaves its window's lock behind. The rerun, started at once, says who holds the lock
 * (PID, host), when it was last renewed and when it expires, and then succeeds by itself, on both stages: it waits
 * longer than a dead holder's lock can last.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BNT_HOURLY_TRAFFIC } from '../../src/pipeline/datasets';
import { runWindow } from '../../src/pipeline/drive';
import { windowLockName, windowLockWaitMs } from '../../src/pipeline/locks';
import type { StageStore } from '../../src/pipeline/ports';
import { SocrataClient } from '../../src/pipeline/source';
import { BlobStageStore, DEFAULT_LEASE_SECONDS } from '../../src/stage/blob';
import { DEFAULT_LOCK_STALE_MS, LocalStageStore } from '../../src/stage/local';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb';
import { type Azurite, startAzurite } from '../support/azurite';
import { FAST_RETRY, TRAFFIC_FIELDS, TRAFFIC_ID, temporaryDirectory, trafficRows } from '../support/fixtures';
import { type SocrataTestServer, startSocrataServer } from '../support/socrata-server';

const SRC = join(__dirname, '..', '..', 'src', 'stage');
const WEEK = { start: '2024-01-07', stop: '2024-01-14' };
const LOCK = windowLockName(BNT_HOURLY_TRAFFIC, WEEK);

/** A child process that takes the window's lock with `store` (an expression over the stage module) and stays. */
async function crashedHolder(module: string, store: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `const stage = require(${JSON.stringify(join(SRC, module))});
       (${store}).acquireLock(${JSON.stringify(LOCK)}, { waitMs: 0 })
         .then(() => { process.stdout.write('locked\\n'); setInterval(() => undefined, 1000); });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  for await (const chunk of child.stdout ?? []) {
    output += String(chunk);
    if (output.includes('locked')) break;
  }
  assert.match(output, /locked/);
  // No exit handler runs on SIGKILL: the lock stays behind, as after a crash.
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
  return child;
}

describe('a crashed run’s lock', () => {
  let server: SocrataTestServer;
  let azurite: Azurite;
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;

  before(async () => {
    [server, azurite, directory] = await Promise.all([
      startSocrataServer({ [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows: trafficRows(WEEK.start, WEEK.stop) } }),
      startAzurite(),
      temporaryDirectory(),
    ]);
  });
  after(async () => {
    await Promise.all([server.close(), azurite.stop()]);
    await directory.remove();
  });

  /** The rerun: the whole window on `stage`, with the default waits. */
  async function rerun(stage: StageStore, dataDir: string): Promise<{ rows: number; progress: string[] }> {
    const progress: string[] = [];
    const warehouse = new DuckDbWarehouse(join(dataDir, 'warehouse.duckdb'));
    try {
      const summary = await runWindow(
        {
          source: new SocrataClient({ resourceUrl: server.resourceUrl(TRAFFIC_ID), retry: FAST_RETRY }),
          stage,
          warehouse,
          progress: (message) => progress.push(message),
        },
        BNT_HOURLY_TRAFFIC,
        WEEK,
      );
      return { rows: summary.rowsInWindow, progress };
    } finally {
      await warehouse.close();
    }
  }

  function assertToldWhoHolds(progress: readonly string[], pid: number | undefined): void {
    const told = progress.find((line) => line.startsWith('another run is working on bnt-hourly-traffic'));
    assert.ok(told, progress.join('\n'));
    assert.match(
      told,
      new RegExp(
        `the lock is held by PID ${pid} on host ${hostname().replace(/[.]/g, '\\.')} \\(last renewed \\d{4}-\\d\\d-\\d\\dT[\\d:]+Z, expires \\d{4}-\\d\\d-\\d\\dT[\\d:]+Z unless renewed\\); PID ${pid} no longer runs \\(a crashed run\\), so the lock frees itself at .* and this run takes it; waiting`,
      ),
    );
  }

  test('a window waits longer than a dead holder’s lock lasts, on both stages’ defaults', () => {
    assert.ok(windowLockWaitMs(new LocalStageStore(directory.path)) > DEFAULT_LOCK_STALE_MS);
    const blob = BlobStageStore.withConnectionString(azurite.connectionString, 'stage');
    assert.ok(windowLockWaitMs(blob) > DEFAULT_LEASE_SECONDS * 1000);
  });

  test('local stage: a rerun right after kill -9 is told who holds the lock, then takes it and succeeds', async () => {
    const dataDir = join(directory.path, 'local');
    const child = await crashedHolder(
      'local.ts',
      `new stage.LocalStageStore(${JSON.stringify(dataDir)}, { lockStaleMs: 2000 })`,
    );
    const result = await rerun(new LocalStageStore(dataDir, { lockStaleMs: 2_000, lockPollMs: 100 }), dataDir);
    assert.equal(result.rows, 7 * 480);
    assertToldWhoHolds(result.progress, child.pid);
  });

  test('Azure stage: a rerun right after kill -9 waits out the lease, told who holds it, and succeeds', async () => {
    const dataDir = join(directory.path, 'azure');
    const timing = '{ leaseSeconds: 15, renewMs: 5000, pollMs: 500 }';
    const child = await crashedHolder(
      'blob.ts',
      `stage.BlobStageStore.withConnectionString(${JSON.stringify(azurite.connectionString)}, 'stage', undefined, ${timing})`,
    );
    const store = BlobStageStore.withConnectionString(azurite.connectionString, 'stage', undefined, {
      leaseSeconds: 15,
      renewMs: 5_000,
      pollMs: 500,
    });
    const result = await rerun(store, dataDir);
    assert.equal(result.rows, 7 * 480);
    assertToldWhoHolds(result.progress, child.pid);
  });
});
