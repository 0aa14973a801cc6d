/**
 * The full-history backfill of bnt-hourly-traffic (2010-01-01 to 2025-06-01, about 2.7 million rows), run the
 * way the backfill orchestration runs it — the planner's units staged in waves by the real stage step against
 * the local Socrata stand-in, then the planner's batches loaded by the real load step into DuckDB — with the
 * source's requests and the warehouse's MERGE statements counted. Budget: at most 100 requests and 20 MERGEs.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DatasetDefinition } from '../../src/pipeline/datasets';
import type { StageStore, StagedWindow } from '../../src/pipeline/ports';
import { SocrataClient } from '../../src/pipeline/source';
import { type StepPorts, loadWindowsStep, stageWindowStep } from '../../src/pipeline/steps';
import { planBackfill, planUnits, waves } from '../../src/schedule/backfill-plan';
import { backfillInstanceId } from '../../src/schedule/instances';
import { LocalStageStore } from '../../src/stage/local';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb';
import { TRAFFIC_FIELDS, TRAFFIC_ID, temporaryDirectory, trafficRows } from '../support/fixtures';
import { type SocrataTestServer, startSocrataServer } from '../support/socrata-server';

const DATASET = 'bnt-hourly-traffic';
const HISTORY = { start: '2010-01-01', stop: '2025-06-01' };
const MAX_CONCURRENCY = 4;

/** DuckDB that counts the MERGE statements it runs: `loadWindows` runs one for windows that staged rows. */
class CountingDuckDb extends DuckDbWarehouse {
  merges = 0;

  override async loadWindows(dataset: DatasetDefinition, windows: readonly StagedWindow[], stage: StageStore) {
    if (windows.some((window) => window.parts.length > 0)) this.merges += 1;
    await super.loadWindows(dataset, windows, stage);
  }
}

let server: SocrataTestServer;
let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
const rows = trafficRows(HISTORY.start, HISTORY.stop);

before(async () => {
  server = await startSocrataServer({ [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows } });
  directory = await temporaryDirectory();
});
after(async () => {
  await server.close();
  await directory.remove();
});

test('a full-history traffic backfill costs at most 100 source requests and 20 MERGEs', async (t) => {
  const { units, batches } = planUnits(DATASET, [HISTORY]);
  const plan = planBackfill(DATASET, backfillInstanceId(DATASET, HISTORY, 'all'), { units, batches }, MAX_CONCURRENCY);
  const warehouse = new CountingDuckDb(join(directory.path, 'warehouse.duckdb'));
  const ports: StepPorts = {
    source: new SocrataClient({ resourceUrl: server.resourceUrl(TRAFFIC_ID) }),
    stage: new LocalStageStore(directory.path),
    warehouse,
    progress: () => undefined,
  };

  const chunksOfUnit = new Map<number, readonly { start: string; stop: string }[]>();
  let staged = 0;
  for (const wave of waves(
    units.map((unit, index) => ({ unit, index })),
    MAX_CONCURRENCY,
  )) {
    const outputs = await Promise.all(
      wave.map(({ unit }) => stageWindowStep(ports, { dataset: DATASET, window: unit })),
    );
    outputs.forEach((output, position) => {
      chunksOfUnit.set(wave[position]?.index ?? -1, output.chunks);
      staged += output.staged;
    });
  }
  for (const batch of plan.batches) {
    const windows = batch.flatMap((index) => chunksOfUnit.get(index) ?? []);
    await loadWindowsStep(ports, { dataset: DATASET, windows });
  }

  const requests = server.requests.length;
  t.diagnostic(`${units.length} units, ${rows.length} rows, ${requests} source requests, ${warehouse.merges} MERGEs`);
  assert.equal(staged, rows.length, 'every row staged');
  assert.ok(requests <= 100, `${requests} source requests`);
  assert.ok(warehouse.merges <= 20, `${warehouse.merges} MERGE statements`);
  assert.equal(requests, plan.estimatedRequests, 'the plan predicted the requests exactly');
  assert.equal(warehouse.merges, plan.merges);

  const instance = await DuckDBInstance.create(join(directory.path, 'warehouse.duckdb'), { access_mode: 'READ_ONLY' });
  try {
    const connection = await instance.connect();
    const [count] = (
      await connection.runAndReadAll('SELECT count(*)::INT AS n FROM bronze.bnt_traffic_hourly')
    ).getRowObjectsJson();
    connection.closeSync();
    assert.equal(count?.n, rows.length, 'the table holds the whole history once');
  } finally {
    instance.closeSync();
  }
});
