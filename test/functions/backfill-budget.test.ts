/**
 * Both full histories — bnt-hourly-traffic from 2010-01-01 to 2025-05-01 and bnt-hourly-crossings from 2019-01-01 to
 * 2026-12-01 — backfilled the way the backfill orchestration runs them: the planner's units staged in waves by the
 * real stage step against the local Socrata stand-in, then the planner's batches loaded by the real load step into
 * DuckDB, with the source's requests and the warehouse's MERGE statements counted, and the dry run's estimate held
 * to what was sent. Budget: at most 420 source requests for both (the ~18.6 million rows are 373 pages at least).
 *
 * Scaled down twentyfold to stay cheap, consistently: pages of 2,500 rows instead of 50,000, and the datasets' rows
 * a day (480 and 5,500) divided by 20 as well, so units have the same days, pages and requests as in production. The
 * stand-in generates the rows as pages ask for them (`GeneratedDataset`), so nothing holds the whole history.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DatasetDefinition } from '../../src/pipeline/datasets';
import type { StageStore, StagedWindow } from '../../src/pipeline/ports';
import { SocrataClient } from '../../src/pipeline/source';
import { type StepPorts, loadWindowsStep, stageWindowStep } from '../../src/pipeline/steps';
import { type UnitSizing, planBackfill, planUnits, waves } from '../../src/schedule/backfill-plan';
import { rowsPerDay } from '../../src/schedule/datasets';
import { backfillInstanceId } from '../../src/schedule/instances';
import { LocalStageStore } from '../../src/stage/local';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb';
import { CROSSINGS_FIELDS, CROSSINGS_ID, TRAFFIC_FIELDS, TRAFFIC_ID, temporaryDirectory } from '../support/fixtures';
import { type GeneratedDataset, type SocrataTestServer, startSocrataServer } from '../support/socrata-server';

const SCALE = 20;
const PAGE_ROWS = 50_000 / SCALE;
const MAX_CONCURRENCY = 4;
const BUDGET = 420;

const TRAFFIC = { name: 'bnt-hourly-traffic', id: TRAFFIC_ID, history: { start: '2010-01-01', stop: '2025-05-01' } };
const CROSSINGS = {
  name: 'bnt-hourly-crossings',
  id: CROSSINGS_ID,
  history: { start: '2019-01-01', stop: '2026-12-01' },
};

function sizing(dataset: string): UnitSizing {
  return { pageRows: PAGE_ROWS, rowsPerDay: rowsPerDay(dataset) / SCALE };
}

/** 24 rows a day: one plaza, inbound, every hour (in the order the pipeline asks for: date, plaza, hour). */
const trafficDays: GeneratedDataset = {
  fields: TRAFFIC_FIELDS,
  windowField: 'date',
  firstDate: TRAFFIC.history.start,
  stopDate: TRAFFIC.history.stop,
  rowsPerDay: sizing(TRAFFIC.name).rowsPerDay,
  row: (day, index) => ({
    plaza_id: '21',
    date: `${day}T00:00:00.000`,
    hour: String(index),
    direction: 'I',
    vehicles_e_zpass: String(1000 + index),
    vehicles_vtoll: String(index),
  }),
};

/** 275 rows a day: 11 or 12 vehicle classes an hour at one facility (ordered by hour, then class). */
const crossingsDays: GeneratedDataset = {
  fields: CROSSINGS_FIELDS,
  windowField: 'transit_timestamp',
  firstDate: CROSSINGS.history.start,
  stopDate: CROSSINGS.history.stop,
  rowsPerDay: sizing(CROSSINGS.name).rowsPerDay,
  row: (day, index) => {
    const perDay = sizing(CROSSINGS.name).rowsPerDay;
    const hour = Math.floor((index * 24) / perDay);
    const vehicleClass = index - Math.ceil((hour * perDay) / 24);
    const hh = String(hour).padStart(2, '0');
    return {
      transit_timestamp: `${day}T${hh}:00:00.000`,
      date: `${day}T00:00:00.000`,
      hour: String(hour),
      facility_id: '21',
      facility: 'RFK Bronx',
      direction: 'Bronx bound',
      payment_method: 'E-ZPass',
      vehicle_class: String(vehicleClass),
      vehicle_class_description: `Class ${vehicleClass}`,
      vehicle_class_category: 'Cars',
      traffic_count: String(index),
    };
  },
};

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

before(async () => {
  server = await startSocrataServer({ [TRAFFIC_ID]: trafficDays, [CROSSINGS_ID]: crossingsDays });
  directory = await temporaryDirectory();
});
after(async () => {
  await server.close();
  await directory.remove();
});

async function backfill(dataset: typeof TRAFFIC) {
  const { units, batches } = planUnits(dataset.name, [dataset.history], sizing(dataset.name));
  const id = backfillInstanceId(dataset.name, dataset.history, 'all');
  const plan = planBackfill(dataset.name, id, { units, batches }, MAX_CONCURRENCY, sizing(dataset.name));
  const warehouse = new CountingDuckDb(join(directory.path, 'warehouse.duckdb'));
  const ports: StepPorts = {
    source: new SocrataClient({ resourceUrl: server.resourceUrl(dataset.id), pageSize: PAGE_ROWS }),
    stage: new LocalStageStore(directory.path),
    warehouse,
    progress: () => undefined,
  };
  const before = server.requests.length;
  const chunksOfUnit = new Map<number, readonly { start: string; stop: string }[]>();
  let staged = 0;
  for (const wave of waves(
    units.map((unit, index) => ({ unit, index })),
    MAX_CONCURRENCY,
  )) {
    const outputs = await Promise.all(
      wave.map(({ unit }) => stageWindowStep(ports, { dataset: dataset.name, window: unit })),
    );
    outputs.forEach((output, position) => {
      chunksOfUnit.set(wave[position]?.index ?? -1, output.chunks);
      staged += output.staged;
    });
  }
  for (const batch of plan.batches) {
    const windows = batch.flatMap((index) => chunksOfUnit.get(index) ?? []);
    await loadWindowsStep(ports, { dataset: dataset.name, windows });
  }
  return { plan, units, staged, requests: server.requests.length - before, merges: warehouse.merges };
}

async function rowsIn(table: string): Promise<number> {
  const instance = await DuckDBInstance.create(join(directory.path, 'warehouse.duckdb'), { access_mode: 'READ_ONLY' });
  try {
    const connection = await instance.connect();
    const [count] = (await connection.runAndReadAll(`SELECT count(*)::INT AS n FROM ${table}`)).getRowObjectsJson();
    connection.closeSync();
    return Number(count?.n);
  } finally {
    instance.closeSync();
  }
}

test('both full histories cost at most 420 source requests, exactly as many as the dry run estimates', async (t) => {
  let requests = 0;
  for (const [dataset, table] of [
    [TRAFFIC, 'bronze.bnt_traffic_hourly'],
    [CROSSINGS, 'bronze.bnt_crossings_hourly'],
  ] as const) {
    const run = await backfill(dataset);
    const rows = run.plan.estimatedRows;
    t.diagnostic(
      `${dataset.name}: ${run.units.length} units, ${rows * SCALE} rows at full scale, ${run.requests} source requests (${Math.ceil(rows / PAGE_ROWS)} pages at least), ${run.merges} MERGEs`,
    );
    assert.equal(run.staged, rows, 'every row staged');
    assert.equal(await rowsIn(table), rows, 'the table holds the whole history once');
    assert.equal(run.requests, run.plan.estimatedRequests, 'the plan predicted the requests exactly');
    assert.equal(run.merges, run.plan.merges);
    requests += run.requests;
  }
  t.diagnostic(`both histories: ${requests} source requests`);
  assert.ok(requests <= BUDGET, `${requests} source requests, more than ${BUDGET}`);
});
