/**
 * A run loads its chunks behind the fetching, and the chunks staged while a load runs go into the next load together:
 * a source faster than the warehouse costs a few MERGEs, not one per chunk.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DatasetDefinition } from '../../src/pipeline/datasets';
import { BNT_HOURLY_TRAFFIC } from '../../src/pipeline/datasets';
import { runWindow } from '../../src/pipeline/drive';
import { windowLayout } from '../../src/pipeline/layout';
import type { StageStore, StagedWindow } from '../../src/pipeline/ports';
import { SocrataClient } from '../../src/pipeline/source';
import { LocalStageStore } from '../../src/stage/local';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb';
import { FAST_RETRY, TRAFFIC_FIELDS, TRAFFIC_ID, temporaryDirectory, trafficRows } from '../support/fixtures';
import { type SocrataTestServer, startSocrataServer } from '../support/socrata-server';

const WINDOW = { start: '2024-01-01', stop: '2024-03-01' }; // 60 days: chunks of 7 days, the last of 4

async function run(
  resource: string,
  warehouse: RecordingDuckDb,
  stage: LocalStageStore,
  chunkDays: number,
  window = WINDOW,
) {
  return runWindow(
    {
      source: new SocrataClient({ resourceUrl: server.resourceUrl(resource), retry: FAST_RETRY, pageSize: 2000 }),
      stage,
      warehouse,
      progress: () => undefined,
      tuning: { chunkDays },
    },
    BNT_HOURLY_TRAFFIC,
    window,
  );
}

/** DuckDB whose first load waits until `ready` says so, recording the windows of every load. */
class RecordingDuckDb extends DuckDbWarehouse {
  readonly loads: string[][] = [];
  ready: () => Promise<boolean> = async () => true;

  override async loadWindows(dataset: DatasetDefinition, windows: readonly StagedWindow[], stage: StageStore) {
    // Bounded, so a condition that never comes fails the assertions below instead of hanging the test.
    const deadline = Date.now() + 15_000;
    if (this.loads.length === 0) while (!(await this.ready()) && Date.now() < deadline) await sleep(10);
    this.loads.push(windows.map((staged) => staged.window.start));
    await super.loadWindows(dataset, windows, stage);
  }
}

let server: SocrataTestServer;
let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
before(async () => {
  server = await startSocrataServer({
    [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows: trafficRows(WINDOW.start, WINDOW.stop) },
    // One plaza for 500 days: long chunks at little cost.
    [`sparse/${TRAFFIC_ID}`]: { fields: TRAFFIC_FIELDS, rows: trafficRows('2020-01-01', '2021-05-15', ['21']) },
  });
  directory = await temporaryDirectory();
});
after(async () => {
  await server.close();
  await directory.remove();
});

test('chunks staged while a load runs are loaded together in the next MERGE, in order, and all of them once', async () => {
  const stage = new LocalStageStore(directory.path);
  const warehouse = new RecordingDuckDb(join(directory.path, 'warehouse.duckdb'));
  const lastChunk = { start: '2024-02-26', stop: '2024-03-01' };
  // The first load holds on until every chunk is staged: then the other eight are ready together.
  warehouse.ready = async () =>
    (await stage.readText(windowLayout(BNT_HOURLY_TRAFFIC.name, lastChunk).manifest)) !== undefined;
  try {
    const summary = await run(TRAFFIC_ID, warehouse, stage, 7);
    assert.equal(summary.chunks, 9);
    assert.deepEqual(warehouse.loads, [
      ['2024-01-01'],
      ['2024-01-08', '2024-01-15', '2024-01-22', '2024-01-29', '2024-02-05', '2024-02-12', '2024-02-19', '2024-02-26'],
    ]);
    assert.equal(summary.rowsInWindow, 60 * 480);
    assert.equal(summary.status, 'completed');
  } finally {
    await warehouse.close();
  }
});

test('one MERGE covers at most a year of chunks', async () => {
  const dataDir = join(directory.path, 'year');
  const stage = new LocalStageStore(dataDir);
  const warehouse = new RecordingDuckDb(join(dataDir, 'warehouse.duckdb'));
  const window = { start: '2020-01-01', stop: '2021-05-15' }; // 500 days: five chunks of 100
  warehouse.ready = async () =>
    (await stage.readText(
      windowLayout(BNT_HOURLY_TRAFFIC.name, { start: '2021-02-04', stop: '2021-05-15' }).manifest,
    )) !== undefined;
  try {
    const summary = await run(`sparse/${TRAFFIC_ID}`, warehouse, stage, 100, window);
    assert.deepEqual(warehouse.loads, [['2020-01-01'], ['2020-04-10', '2020-07-19', '2020-10-27'], ['2021-02-04']]);
    assert.equal(summary.rowsInWindow, 500 * 48);
  } finally {
    await warehouse.close();
  }
});
