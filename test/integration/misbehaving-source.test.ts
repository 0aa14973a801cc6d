/**
 * A source that misbehaves the way a real API sometimes does — pages that ignore `$order`, a key's twin far from it,
 * `"03"` beside `"3"`, a lone surrogate — never costs a row, never stages a row twice, and never blocks a window.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { main } from '../../src/cli/pipeline';
import { TransientError } from '../../src/common/errors';
import { BNT_HOURLY_TRAFFIC } from '../../src/pipeline/datasets';
import { type RunSummary, runWindow } from '../../src/pipeline/drive';
import { readManifest } from '../../src/pipeline/steps';
import { SocrataClient } from '../../src/pipeline/source';
import { splitWindow, type Window } from '../../src/pipeline/window';
import { LocalStageStore } from '../../src/stage/local';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb';
import { lastJsonLine, runInProcess } from '../support/cli';
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
  // A key column renamed upstream: every record lacks plaza_id.
  'renamed-key/qzve-kjga': { fields: TRAFFIC_FIELDS, rows: clean, misbehave: { rename: { plaza_id: 'plaza' } } },
  // An optional column renamed upstream: it would load as NULL everywhere without a word.
  'renamed-count/qzve-kjga': {
    fields: TRAFFIC_FIELDS,
    rows: clean,
    misbehave: { rename: { vehicles_vtoll: 'vehicles_cash' } },
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

describe('the verdict comes from invariants: mostly quarantined is a failure, missing columns are named', () => {
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

  const runCli = (prefix: string, argv: string[] = [], env: NodeJS.ProcessEnv = {}) =>
    runInProcess(main, ['run', '--start-date', WEEK.start, '--stop-date', WEEK.stop, '--json', ...argv], {
      cwd: directory.path,
      env: { BNT_SOURCE_URL: server.baseFor(prefix), ...env },
    });

  test('a renamed key column sends every record to quarantine: the run fails (exit 1), naming the reason and the field', async () => {
    const result = await runCli('renamed-key');
    assert.equal(result.code, 1, result.stderr);
    const summary = lastJsonLine(result.stdout);
    assert.equal(summary.ok, false);
    assert.equal(summary.status, 'failed');
    assert.equal(summary.fetched, 3360);
    assert.equal(summary.quarantined, 3360);
    assert.deepEqual(summary.quarantineReasons, { missing_field: 3360 });
    assert.equal(summary.maxQuarantinePercent, 1);
    assert.deepEqual(summary.missingFields, ['plaza_id']);
    assert.equal((summary.error as { kind: string }).kind, 'terminal');
    assert.match(
      result.stderr,
      /^error: bnt-hourly-traffic \[2024-01-07, 2024-01-14\): 3,360 of 3,360 records \(100%\) were quarantined, over the 1% limit \(top reasons: missing_field 3,360; no record carries plaza_id; see stage\/bnt-hourly-traffic\/2024-01-07_2024-01-14\/_quarantine\.jsonl\)/m,
    );
    assert.doesNotMatch(result.stderr, /returned no rows/, 'the source did return rows');
  });

  test('the limit comes from the setting or the flag (the flag wins); a limit that is no percentage exits 2', async () => {
    const lenient = await runCli('renamed-key', [], { BNT_MAX_QUARANTINE_PERCENT: '100' });
    assert.equal(lenient.code, 0, lenient.stderr);
    assert.equal(lastJsonLine(lenient.stdout).maxQuarantinePercent, 100);
    const strict = await runCli('renamed-key', ['--max-quarantine-percent', '5'], {
      BNT_MAX_QUARANTINE_PERCENT: '100',
    });
    assert.equal(strict.code, 1);
    assert.equal(lastJsonLine(strict.stdout).maxQuarantinePercent, 5);
    for (const [argv, env, field] of [
      [['--max-quarantine-percent', 'lots'], {}, '--max-quarantine-percent'],
      [[], { BNT_MAX_QUARANTINE_PERCENT: '101' }, 'BNT_MAX_QUARANTINE_PERCENT'],
    ] as const) {
      const refused = await runCli('renamed-key', [...argv], env);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, new RegExp(`^error: ${field} "\\w+" must be a percentage from 0 to 100`));
    }
  });

  test('a column no record carries is named on stderr and in the summary; the window still completes', async () => {
    const result = await runCli('renamed-count');
    assert.equal(result.code, 0, result.stderr);
    const summary = lastJsonLine(result.stdout);
    assert.equal(summary.status, 'completed');
    assert.deepEqual(summary.missingFields, ['vehicles_vtoll']);
    assert.match(
      result.stderr,
      /warning: no record of bnt-hourly-traffic \[2024-01-07, 2024-01-14\) carries vehicles_vtoll; it loads as NULL/,
    );
  });
});
