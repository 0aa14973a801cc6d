/**
 * A source that misbehaves the way a real API sometimes does — pages that ignore `$order`, a key's twin far from it,
 * `"03"` beside `"3"`, a lone surrogate — never costs a row, never stages a row twice, and never blocks a window.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { TransientError } from '../../src/common/errors';
import { BNT_HOURLY_TRAFFIC } from '../../src/pipeline/datasets';
import { type RunSummary, runWindow } from '../../src/pipeline/drive';
import { readManifest } from '../../src/pipeline/steps';
import { SocrataClient } from '../../src/pipeline/source';
import { splitWindow, type Window } from '../../src/pipeline/window';
import { LocalStageStore } from '../../src/stage/local';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb';
import { FAST_RETRY, TRAFFIC_FIELDS, temporaryDirectory, trafficRows } from '../support/fixtures';
import { type SocrataTestServer, type TestDataset, startSocrataServer } from '../support/socrata-server';

const WEEK: Window = { start: '2024-01-07', stop: '2024-01-14' };
const clean = trafficRows(WEEK.start, WEEK.stop);
/** The clean row the twins copy: plaza 21, 8 January, hour 3, inbound. */
const original = clean.find(
  (row) => row.plaza_id === '21' && row.date === '2024-01-08T00:00:00.000' && row.hour === '3' && row.direction === 'I',
) as Record<string, string>;

const served: Record<string, TestDataset> = {
  'shuffled/qzve-kjga': { fields: TRAFFIC_FIELDS, rows: clean, misbehave: { order: 'shuffled' } },
  'reversed/qzve-kjga': { fields: TRAFFIC_FIELDS, rows: clean, misbehave: { order: 'reversed' } },
  'late/qzve-kjga': { fields: TRAFFIC_FIELDS, rows: clean, misbehave: { order: { late: 3 } } },
  // Sorted on the date only: the twin, stored last, comes at the end of its day, far from the original.
  'twin/qzve-kjga': {
    fields: TRAFFIC_FIELDS,
    rows: [...clean, { ...original, vehicles_e_zpass: '7777' }],
    misbehave: { order: { sortedOn: ['date'] } },
  },
  'zero-padded/qzve-kjga': {
    fields: TRAFFIC_FIELDS,
    rows: [...clean, { ...original, hour: '03', vehicles_e_zpass: '7777' }],
    misbehave: { order: { sortedOn: ['date'] } },
  },
  // Odd but valid text and the largest count: each loads, so none may be quarantined.
  'odd-text/qzve-kjga': {
    fields: TRAFFIC_FIELDS,
    rows: [
      'NUL\u0000',
      'bell\u0007',
      'line\u2028sep',
      '\ufeffbom',
      'emoji \u{1F600}',
      'nonchar\uffff',
      'tab\tquote"\\',
    ].map((plaza, hour) => ({ ...original, plaza_id: plaza, hour: String(hour), vehicles_e_zpass: '2147483647' })),
  },
  'surrogate/qzve-kjga': {
    fields: TRAFFIC_FIELDS,
    rows: [...clean, { ...original, plaza_id: 'A\ud800', vehicles_e_zpass: '7777' }],
  },
};

describe('a misbehaving source never costs a row or blocks a window', () => {
  let server: SocrataTestServer;
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;

  before(async () => {
    server = await startSocrataServer(served);
  });
  after(() => server.close());
  beforeEach(async () => {
    directory = await temporaryDirectory();
  });
  afterEach(() => directory.remove());

  function run(prefix: string, options: { chunkDays?: number } = {}): Promise<RunSummary> {
    const warehouse = new DuckDbWarehouse(join(directory.path, 'warehouse.duckdb'));
    return runWindow(
      {
        source: new SocrataClient({
          resourceUrl: server.resourceUrl(`${prefix}/qzve-kjga`),
          retry: FAST_RETRY,
          pageSize: 500,
        }),
        stage: new LocalStageStore(directory.path),
        warehouse,
        progress: () => undefined,
        tuning: options.chunkDays ? { chunkDays: options.chunkDays } : {},
      },
      BNT_HOURLY_TRAFFIC,
      WEEK,
    ).finally(() => warehouse.close());
  }

  async function query(sql: string): Promise<Record<string, unknown>[]> {
    const instance = await DuckDBInstance.create(join(directory.path, 'warehouse.duckdb'), {
      access_mode: 'READ_ONLY',
    });
    try {
      const connection = await instance.connect();
      const rows = (await connection.runAndReadAll(sql)).getRowObjectsJson();
      connection.closeSync();
      return rows;
    } finally {
      instance.closeSync();
    }
  }

  async function assertNothingStaged(chunkDays: number): Promise<void> {
    const stage = new LocalStageStore(directory.path);
    for (const chunk of splitWindow(WEEK, chunkDays)) {
      await assert.rejects(readManifest(stage, BNT_HOURLY_TRAFFIC, chunk), /is not completely staged/);
    }
  }

  for (const prefix of ['shuffled', 'reversed', 'late']) {
    test(`pages that ignore $order (${prefix}) fail the window as transient, and leave no manifest`, async () => {
      await assert.rejects(
        run(prefix, { chunkDays: 2 }),
        (error: Error) =>
          error instanceof TransientError &&
          /the source did not return rows in the order asked \(\$order=date,plaza_id,hour,direction,:id\): date 2024-01-\d\d came after 2024-01-\d\d, so the window was not staged; run it again/.test(
            error.message,
          ),
      );
      await assertNothingStaged(2);
    });
  }

  for (const [prefix, what] of [
    ['twin', 'a twin far from the original'],
    ['zero-padded', 'hour "03" beside "3"'],
  ] as const) {
    test(`duplicates on the typed key are found wherever they come (${what}); the first in source order is staged`, async () => {
      const summary = await run(prefix);
      assert.equal(summary.fetched, 3361);
      assert.equal(summary.staged, 3360);
      assert.deepEqual(summary.quarantineReasons, { duplicate_key: 1 });
      assert.equal(summary.rowsInWindow, 3360);
      assert.equal(summary.status, 'completed');
      const [kept] = await query(
        `SELECT vehicles_e_zpass FROM bronze.bnt_traffic_hourly WHERE plaza_id = '21' AND date = DATE '2024-01-08' AND hour = '3' AND direction = 'I'`,
      );
      assert.deepEqual(kept, { vehicles_e_zpass: Number(original.vehicles_e_zpass) });
      const quarantine = await readFile(join(directory.path, summary.quarantineFiles[0] ?? ''), 'utf8');
      assert.match(quarantine, /"reason":"duplicate_key".*"vehicles_e_zpass":"7777"/);
    });
  }

  test('text DuckDB reads (controls, NUL, U+2028, a BOM, astral characters) and the largest count load as they are', async () => {
    const summary = await run('odd-text');
    assert.equal(summary.quarantined, 0);
    assert.equal(summary.rowsInWindow, 7);
    // Compared as UTF-8 bytes: the DuckDB client's text decoding drops a leading BOM on the way out, the table keeps it.
    const rows = await query(
      'SELECT strlen(plaza_id)::INT AS bytes, vehicles_e_zpass FROM bronze.bnt_traffic_hourly ORDER BY hour::INT',
    );
    assert.deepEqual(
      rows.map((row) => row.bytes),
      served['odd-text/qzve-kjga']?.rows.map((row) => Buffer.byteLength(row.plaza_id ?? '', 'utf8')),
    );
    assert.ok(rows.every((row) => row.vehicles_e_zpass === 2147483647));
  });

  test('a lone surrogate in a text value is quarantined as malformed_text, and the rest of the window loads', async () => {
    const summary = await run('surrogate');
    assert.deepEqual(summary.quarantineReasons, { malformed_text: 1 });
    assert.equal(summary.staged, 3360);
    assert.equal(summary.rowsInWindow, 3360);
    const manifest = await readManifest(new LocalStageStore(directory.path), BNT_HOURLY_TRAFFIC, WEEK);
    assert.equal(manifest.quarantined, 1);
  });
});
