import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { BNT_HOURLY_CROSSINGS, BNT_HOURLY_TRAFFIC, type DatasetDefinition } from '../../src/pipeline/datasets';
import { type RunSummary, runWindow } from '../../src/pipeline/drive';
import { readManifest, stageWindowStep } from '../../src/pipeline/steps';
import type { Window } from '../../src/pipeline/window';
import { SocrataClient, windowQuery } from '../../src/pipeline/source';
import { LocalStageStore } from '../../src/stage/local';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb';
import {
  CROSSINGS_FIELDS,
  CROSSINGS_ID,
  FAST_RETRY,
  TRAFFIC_FIELDS,
  TRAFFIC_ID,
  crossingsRows,
  temporaryDirectory,
  trafficRows,
} from '../support/fixtures';
import { type SocrataTestServer, startSocrataServer } from '../support/socrata-server';

/** Two weeks of clean rows plus one record for every quarantine rule, inside the first week. */
const cleanTraffic = trafficRows('2024-01-07', '2024-01-21');
const badTraffic: Record<string, string>[] = [
  {
    plaza_id: '21',
    date: '2024-01-08T00:00:00.000',
    hour: '24',
    direction: 'I',
    vehicles_e_zpass: '1',
    vehicles_vtoll: '1',
  },
  {
    plaza_id: '21',
    date: '2024-01-08T00:00:00.000',
    hour: '3',
    direction: 'X',
    vehicles_e_zpass: '1',
    vehicles_vtoll: '1',
  },
  {
    plaza_id: '21',
    date: '2024-01-08T00:00:00.000',
    hour: '4',
    direction: 'I',
    vehicles_e_zpass: '1.5',
    vehicles_vtoll: '1',
  },
  {
    plaza_id: '99',
    date: '2024-01-08T00:00:00.000',
    hour: '4',
    direction: 'I',
    vehicles_e_zpass: '-1',
    vehicles_vtoll: '1',
  },
  { date: '2024-01-08T00:00:00.000', hour: '5', direction: 'I', vehicles_e_zpass: '1', vehicles_vtoll: '1' },
  {
    plaza_id: '98',
    date: '2024-01-08T06:30:00.000',
    hour: '6',
    direction: 'I',
    vehicles_e_zpass: '1',
    vehicles_vtoll: '1',
  },
  // A second record with the key of a clean one: the first in source order is staged.
  {
    plaza_id: '21',
    date: '2024-01-08T00:00:00.000',
    hour: '7',
    direction: 'I',
    vehicles_e_zpass: '7777',
    vehicles_vtoll: '7',
  },
  // A missing nullable count: staged, loads as NULL.
  { plaza_id: '97', date: '2024-01-09T00:00:00.000', hour: '1', direction: 'O', vehicles_e_zpass: '5' },
];

interface RunOptions {
  dataset?: DatasetDefinition;
  pageSize?: number;
  pagesInFlight?: number;
  rowsPerPart?: number;
  chunkDays?: number;
}

interface Harness {
  dataDir: string;
  /** Every staged file (parts, quarantine, manifests) by its path under the stage, as bytes. */
  stagedFiles(): Promise<Map<string, Buffer>>;
  run(window: Window, options?: RunOptions): Promise<RunSummary>;
  query(sql: string): Promise<Record<string, unknown>[]>;
  remove(): Promise<void>;
}

/** A fresh data directory (stage and DuckDB file) over the shared source: every test owns its state. */
async function newHarness(server: SocrataTestServer): Promise<Harness> {
  const directory = await temporaryDirectory();
  const databaseFile = join(directory.path, 'warehouse.duckdb');
  return {
    dataDir: directory.path,
    async run(window, options = {}) {
      const dataset = options.dataset ?? BNT_HOURLY_TRAFFIC;
      const id = dataset === BNT_HOURLY_TRAFFIC ? TRAFFIC_ID : CROSSINGS_ID;
      const warehouse = new DuckDbWarehouse(databaseFile);
      try {
        return await runWindow(
          {
            source: new SocrataClient({
              resourceUrl: server.resourceUrl(id),
              retry: FAST_RETRY,
              pageSize: options.pageSize ?? 1000,
              ...(options.pagesInFlight ? { pagesInFlight: options.pagesInFlight } : {}),
            }),
            stage: new LocalStageStore(directory.path),
            warehouse,
            progress: () => undefined,
            tuning: {
              now: () => new Date('2024-02-01T00:00:00Z'),
              ...(options.rowsPerPart ? { rowsPerPart: options.rowsPerPart } : {}),
              ...(options.chunkDays ? { chunkDays: options.chunkDays } : {}),
            },
          },
          dataset,
          window,
        );
      } finally {
        await warehouse.close();
      }
    },
    async query(sql) {
      const instance = await DuckDBInstance.create(databaseFile, { access_mode: 'READ_ONLY' });
      try {
        const connection = await instance.connect();
        const rows = (await connection.runAndReadAll(sql)).getRowObjectsJson();
        connection.closeSync();
        return rows;
      } finally {
        instance.closeSync();
      }
    },
    async stagedFiles() {
      const root = join(directory.path, 'stage');
      const files = new Map<string, Buffer>();
      for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
        if (!entry.isFile()) continue;
        const path = join(entry.parentPath, entry.name);
        files.set(path.slice(root.length), await readFile(path));
      }
      return files;
    },
    remove: () => directory.remove(),
  };
}

describe('standalone pipeline: Socrata → local stage → DuckDB', () => {
  let server: SocrataTestServer;
  let harness: Harness;

  before(async () => {
    server = await startSocrataServer({
      [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows: [...cleanTraffic, ...badTraffic] },
      [CROSSINGS_ID]: { fields: CROSSINGS_FIELDS, rows: crossingsRows('2024-03-09', '2024-03-12') },
    });
  });
  after(() => server.close());
  beforeEach(async () => {
    harness = await newHarness(server);
  });
  afterEach(() => harness.remove());

  const week1 = { start: '2024-01-07', stop: '2024-01-14' };

  test('stages and loads a week; every fetched record is staged or quarantined with its reason', async () => {
    const summary = await harness.run(week1, { pageSize: 1000 });
    assert.equal(summary.fetched, 7 * 480 + badTraffic.length);
    assert.equal(summary.quarantined, 7);
    assert.equal(summary.staged, 7 * 480 + 1);
    assert.equal(summary.fetched, summary.staged + summary.quarantined);
    assert.deepEqual(summary.quarantineReasons, {
      out_of_range: 2,
      not_allowed: 1,
      not_an_integer: 1,
      missing_field: 1,
      not_a_date: 1,
      duplicate_key: 1,
    });
    assert.equal(summary.rowsInWindow, summary.staged);
    assert.equal(summary.table, 'bronze.bnt_traffic_hourly');

    const quarantine = (await readFile(join(harness.dataDir, summary.quarantineFiles[0] ?? ''), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(quarantine.length, 7);
    const duplicate = quarantine.find((entry) => entry.reason === 'duplicate_key');
    const { [':id']: rowId, ...received } = duplicate.record;
    assert.deepEqual(received, badTraffic[6], 'the quarantine keeps the record as received');
    assert.match(rowId, /^row-/, "with Socrata's row id, to find it at the source");

    const [kept] = await harness.query(
      `SELECT vehicles_e_zpass, vehicles_vtoll FROM bronze.bnt_traffic_hourly WHERE plaza_id = '21' AND date = DATE '2024-01-08' AND hour = '7' AND direction = 'I'`,
    );
    const clean = cleanTraffic.find(
      (r) => r.plaza_id === '21' && r.date?.startsWith('2024-01-08') && r.hour === '7' && r.direction === 'I',
    );
    assert.deepEqual(
      kept,
      { vehicles_e_zpass: Number(clean?.vehicles_e_zpass), vehicles_vtoll: Number(clean?.vehicles_vtoll) },
      'the first record in source order wins',
    );
    const [nullable] = await harness.query(
      `SELECT vehicles_e_zpass, vehicles_vtoll FROM bronze.bnt_traffic_hourly WHERE plaza_id = '97'`,
    );
    assert.deepEqual(nullable, { vehicles_e_zpass: 5, vehicles_vtoll: null });

    const columns = await harness.query(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'bnt_traffic_hourly' ORDER BY ordinal_position`,
    );
    assert.deepEqual(
      columns.map((c) => `${c.column_name} ${c.data_type}`),
      [
        'plaza_id VARCHAR',
        'date DATE',
        'hour VARCHAR',
        'direction VARCHAR',
        'vehicles_e_zpass INTEGER',
        'vehicles_vtoll INTEGER',
      ],
    );
  });

  test('the staged files are JSON Lines in the typed table shape, with a manifest that adds up', async () => {
    await harness.run(week1);
    const prefix = join(harness.dataDir, 'stage', 'bnt-hourly-traffic', '2024-01-07_2024-01-14');
    assert.deepEqual((await readdir(prefix)).sort(), ['_manifest.json', '_quarantine.jsonl', 'part-00000.jsonl']);
    const [first] = (await readFile(join(prefix, 'part-00000.jsonl'), 'utf8')).split('\n');
    assert.deepEqual(Object.keys(JSON.parse(first ?? '{}')), [
      'plaza_id',
      'date',
      'hour',
      'direction',
      'vehicles_e_zpass',
      'vehicles_vtoll',
    ]);
    const manifest = await readManifest(new LocalStageStore(harness.dataDir), BNT_HOURLY_TRAFFIC, week1);
    assert.equal(manifest.fetched, manifest.staged + manifest.quarantined);
  });

  test('rerunning a window converges to the same table, with no duplicate', async () => {
    await harness.run(week1);
    const before = await harness.query('SELECT count(*)::INT AS n FROM bronze.bnt_traffic_hourly');
    const summary = await harness.run(week1, { pageSize: 700 });
    const after = await harness.query('SELECT count(*)::INT AS n FROM bronze.bnt_traffic_hourly');
    assert.deepEqual(after, before);
    assert.equal(summary.rowsInWindow, 7 * 480 + 1);
    const [duplicates] = await harness.query(
      'SELECT count(*)::INT AS n FROM (SELECT plaza_id, date, hour, direction FROM bronze.bnt_traffic_hourly GROUP BY ALL HAVING count(*) > 1)',
    );
    assert.equal(duplicates?.n, 0);
  });

  test('overlapping windows never duplicate a row, and leave rows outside the window alone', async () => {
    await harness.run(week1);
    const summary = await harness.run({ start: '2024-01-10', stop: '2024-01-17' });
    assert.equal(summary.rowsInWindow, 7 * 480);
    const [total] = await harness.query(
      'SELECT count(*)::INT AS n, count(DISTINCT (plaza_id, date, hour, direction))::INT AS keys FROM bronze.bnt_traffic_hourly',
    );
    assert.deepEqual(total, { n: 10 * 480 + 1, keys: 10 * 480 + 1 }, 'week 1 (with its extra row) plus three new days');
  });

  test('large windows roll over into several part files, all of them loaded', async () => {
    const summary = await harness.run(
      { start: '2024-01-14', stop: '2024-01-21' },
      { pageSize: 500, rowsPerPart: 1000 },
    );
    assert.equal(summary.parts.length, 4);
    assert.equal(summary.rowsInWindow, 7 * 480);
  });

  test('a long window runs chunk by chunk, each staged on its own, and counts the whole window', async () => {
    const summary = await harness.run({ start: '2024-01-07', stop: '2024-01-21' }, { chunkDays: 5 });
    assert.equal(summary.chunks, 3);
    assert.equal(summary.fetched, 14 * 480 + badTraffic.length);
    assert.equal(summary.fetched, summary.staged + summary.quarantined);
    assert.equal(summary.rowsInWindow, 14 * 480 + 1);
    assert.deepEqual(summary.parts, [
      'stage/bnt-hourly-traffic/2024-01-07_2024-01-12/part-00000.jsonl',
      'stage/bnt-hourly-traffic/2024-01-12_2024-01-17/part-00000.jsonl',
      'stage/bnt-hourly-traffic/2024-01-17_2024-01-21/part-00000.jsonl',
    ]);
  });

  test('a long window is fetched with one query: floor(rows / page size) + 2 requests, whatever its chunks', async () => {
    server.requests.length = 0;
    const summary = await harness.run({ start: '2024-01-07', stop: '2024-01-21' }, { chunkDays: 3, pageSize: 1000 });
    assert.equal(summary.chunks, 5);
    // The count and 7 pages, the last short (6,728 rows): a short page ends paging, so no empty page follows.
    assert.equal(summary.requests, Math.floor(summary.fetched / 1000) + 2);
    assert.equal(server.requests.length, summary.requests, 'the server saw exactly the requests the summary counts');
  });

  test('staged output is the same byte for byte with one page in flight and with four', async () => {
    const window = { start: '2024-01-07', stop: '2024-01-21' };
    const options = { chunkDays: 5, pageSize: 700, rowsPerPart: 1500 };
    server.requests.length = 0;
    server.answerTogether(4, { $limit: '700' });
    const concurrent = await harness.run(window, { ...options, pagesInFlight: 4 });
    assert.equal(server.maxInFlight, 4, 'four pages were in flight together');
    const sequential = await newHarness(server);
    try {
      server.requests.length = 0;
      const alone = await sequential.run(window, { ...options, pagesInFlight: 1 });
      assert.equal(server.maxInFlight, 1);
      const counts = ({
        fetched,
        staged,
        quarantined,
        quarantineReasons,
        requests,
        parts,
        rowsInWindow,
      }: RunSummary) => ({ fetched, staged, quarantined, quarantineReasons, requests, parts, rowsInWindow });
      assert.deepEqual(counts(alone), counts(concurrent));
      const [four, one] = [await harness.stagedFiles(), await sequential.stagedFiles()];
      assert.ok(four.size >= 9, `${four.size} files staged: parts, the quarantine and a manifest per chunk`);
      assert.deepEqual([...one.keys()].sort(), [...four.keys()].sort());
      for (const [path, bytes] of four) assert.ok(bytes.equals(one.get(path) ?? Buffer.alloc(0)), `${path} differs`);
    } finally {
      await sequential.remove();
    }
  });

  test('a page that fails after a chunk was staged stops the run with its cause; the chunk before stays loaded', async () => {
    // Page 1 (rows of 14–18 Jan, so the chunk 14–17 Jan is complete) comes; page 2, in flight beside it, is refused.
    server.failOn(
      { $offset: '2000' },
      { kind: 'status', status: 400, body: { code: 'query.soql.bad', message: 'refused' } },
    );
    await assert.rejects(
      harness.run({ start: '2024-01-14', stop: '2024-01-21' }, { chunkDays: 3, pageSize: 2000 }),
      /HTTP 400 \(query\.soql\.bad\): refused/,
    );
    const manifest = await readManifest(new LocalStageStore(harness.dataDir), BNT_HOURLY_TRAFFIC, {
      start: '2024-01-14',
      stop: '2024-01-17',
    });
    assert.equal(manifest.staged, 3 * 480);
    const [rows] = await harness.query(
      `SELECT count(*)::INT AS n FROM bronze.bnt_traffic_hourly WHERE date >= DATE '2024-01-14' AND date < DATE '2024-01-17'`,
    );
    assert.equal(rows?.n, 3 * 480);
  });

  test('rows lost while paging (a page that comes back empty too soon) fail the window instead of loading part of it', async () => {
    // The count answers normally; the first page comes back empty, as a capped or confused server might send it.
    server.failOn({ $offset: '0' }, { kind: 'status', status: 200, body: [] });
    await assert.rejects(
      harness.run({ start: '2024-01-18', stop: '2024-01-19' }),
      /the source counted 480 rows but paging returned 0; the source changed while paging, so the window was not staged; run it again/,
    );
    await assert.rejects(
      readManifest(new LocalStageStore(harness.dataDir), BNT_HOURLY_TRAFFIC, {
        start: '2024-01-18',
        stop: '2024-01-19',
      }),
      /not completely staged/,
    );
  });

  test('a window the source has no rows for says so and reports the newest date it has', async () => {
    const summary = await harness.run({ start: '2025-06-01', stop: '2025-06-08' });
    assert.equal(summary.fetched, 0);
    assert.equal(summary.rowsInWindow, 0);
    assert.equal(summary.newestInSource, '2024-01-20T00:00:00.000');
  });

  test('a failure in the middle of a window leaves nothing a load would take for a complete window', async () => {
    await harness.run(week1);
    // Page 2 is refused (not retried), whichever of the pages in flight arrives first.
    server.failOn(
      { $offset: '1000' },
      { kind: 'status', status: 400, body: { code: 'query.soql.boom', message: 'boom' } },
    );
    await assert.rejects(harness.run(week1, { pageSize: 1000 }), /HTTP 400 \(query\.soql\.boom\): boom/);
    await assert.rejects(
      readManifest(new LocalStageStore(harness.dataDir), BNT_HOURLY_TRAFFIC, week1),
      /is not completely staged/,
    );
    const [rows] = await harness.query(
      `SELECT count(*)::INT AS n FROM bronze.bnt_traffic_hourly WHERE date < DATE '2024-01-14'`,
    );
    assert.equal(rows?.n, 7 * 480 + 1, 'the table keeps what the earlier load put there');
    const again = await harness.run(week1);
    assert.equal(again.rowsInWindow, 7 * 480 + 1);
  });

  test('the crossings dataset runs end to end into its own typed table', async () => {
    const summary = await harness.run(
      { start: '2024-03-10', stop: '2024-03-11' },
      { dataset: BNT_HOURLY_CROSSINGS, pageSize: 100 },
    );
    assert.equal(summary.fetched, 24 * 16);
    assert.equal(summary.quarantined, 0);
    assert.equal(summary.table, 'bronze.bnt_crossings_hourly');
    assert.equal(summary.rowsInWindow, 24 * 16);
    const columns = await harness.query(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'bnt_crossings_hourly' ORDER BY ordinal_position`,
    );
    assert.equal(columns.find((c) => c.column_name === 'transit_timestamp')?.data_type, 'TIMESTAMP');
    const [edges] = await harness.query(
      `SELECT min(transit_timestamp)::VARCHAR AS first, max(transit_timestamp)::VARCHAR AS last FROM bronze.bnt_crossings_hourly`,
    );
    assert.deepEqual(edges, { first: '2024-03-10 00:00:00', last: '2024-03-10 23:00:00' });
  });
});

/**
 * Sources that change under the pipeline. Each test has its own server: a failed window leaves an abandoned
 * prefetch behind, which must not eat the faults queued for another test.
 */
describe('a source that changes while a window is paged', () => {
  const window = { start: '2024-01-19', stop: '2024-01-20' };
  let server: SocrataTestServer;
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;

  beforeEach(async () => {
    server = await startSocrataServer({
      [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows: trafficRows('2024-01-19', '2024-01-20') },
    });
    directory = await temporaryDirectory();
  });
  afterEach(async () => {
    await server.close();
    await directory.remove();
  });

  const stage = (pageSize: number) =>
    stageWindowStep(
      {
        source: new SocrataClient({ resourceUrl: server.resourceUrl(TRAFFIC_ID), retry: FAST_RETRY, pageSize }),
        stage: new LocalStageStore(directory.path),
        warehouse: new DuckDbWarehouse(join(directory.path, 'unused.duckdb')),
        progress: () => undefined,
      },
      { dataset: BNT_HOURLY_TRAFFIC.name, window },
    );
  const assertNotStaged = () =>
    assert.rejects(
      readManifest(new LocalStageStore(directory.path), BNT_HOURLY_TRAFFIC, window),
      /not completely staged/,
    );
  const pageOf = async (offset: number, pageSize: number) => {
    const client = new SocrataClient({ resourceUrl: server.resourceUrl(TRAFFIC_ID), pageSize });
    const page = await client.query(client.pageParams(windowQuery(BNT_HOURLY_TRAFFIC, window), offset));
    server.requests.length = 0;
    return page;
  };

  test('a row that shows up on two pages (the result shifted under the offset) fails the window', async () => {
    const page1 = await pageOf(0, 160);
    // Pages 1–3 are in flight together; page 2 starts with the last row of page 1, as after a row was inserted.
    server.answerTogether(3, { $limit: '160' });
    server.failOn({ $offset: '160' }, { kind: 'status', status: 200, body: [page1.at(-1), ...page1.slice(0, 159)] });
    await assert.rejects(stage(160), /row "row-\d+" came on two pages; the source changed while paging/);
    assert.equal(server.maxInFlight, 3);
    await assertNotStaged();
  });

  test('a result that shifted the other way (a row gone before the offset) fails the window', async () => {
    const page2 = await pageOf(160, 160);
    const page3 = await pageOf(320, 160);
    // Page 2 comes one row late, as after a row before it was deleted: its first row is skipped.
    server.answerTogether(3, { $limit: '160' });
    server.failOn({ $offset: '160' }, { kind: 'status', status: 200, body: [...page2.slice(1), page3[0]] });
    await assert.rejects(stage(160), /the source changed while paging, so the window was not staged/);
    assert.equal(server.maxInFlight, 3);
    await assertNotStaged();
  });

  test('a source that sends more rows than it counted fails the window as soon as it does', async () => {
    // The count says 250: pages at 0, 100 and 200 go out together, and the last brings 100 rows, not 50.
    server.failOn({ $select: 'count(*)' }, { kind: 'status', status: 200, body: [{ count: '250' }] });
    server.answerTogether(3, { $limit: '100' });
    await assert.rejects(stage(100), /the source sent more than the 250 rows it counted/);
    assert.equal(server.maxInFlight, 3);
    await assertNotStaged();
  });
});
