import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { BNT_HOURLY_TRAFFIC } from '../../src/pipeline/datasets';
import type { SocrataClient } from '../../src/pipeline/source';
import { loadWindows } from '../../src/pipeline/loading';
import { type StepPorts, loadWindowsStep } from '../../src/pipeline/steps';
import { type Manifest, windowLayout } from '../../src/pipeline/layout';
import { LocalStageStore } from '../../src/stage/local';
import { type Window, addDays } from '../../src/pipeline/window';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb';
import { temporaryDirectory } from '../support/fixtures';

const row = (date: string, hour: string, ezpass: number) => ({
  plaza_id: '21',
  date,
  hour,
  direction: 'I',
  vehicles_e_zpass: ezpass,
  vehicles_vtoll: 1,
});

/** Stages rows for a window by hand (part file + manifest), as `stageWindow` would leave them. */
async function stageByHand(stage: LocalStageStore, window: Window, rows: object[]): Promise<void> {
  const layout = windowLayout(BNT_HOURLY_TRAFFIC.name, window);
  const part = layout.part(0);
  await stage.writeText(part, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  const manifest: Manifest = {
    dataset: BNT_HOURLY_TRAFFIC.name,
    window,
    source: 'https://example.invalid/resource/x.json',
    fetched: rows.length,
    staged: rows.length,
    quarantined: 0,
    quarantineReasons: {},
    parts: [part],
    quarantineFile: null,
    stagedAt: new Date(0).toISOString(),
    missingFields: [],
  };
  await stage.writeText(layout.manifest, JSON.stringify(manifest));
}

describe('DuckDB warehouse: several windows in one MERGE', () => {
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
  before(async () => {
    directory = await temporaryDirectory();
  });
  after(() => directory.remove());

  test('overlapping windows load once per key, the later window wins, and each file only changes its own window', async () => {
    const stage = new LocalStageStore(directory.path);
    const early = { start: '2024-01-07', stop: '2024-01-14' };
    const late = { start: '2024-01-10', stop: '2024-01-17' };
    await stageByHand(stage, early, [row('2024-01-08', '1', 100), row('2024-01-11', '1', 100)]);
    // The later window restates 01-11, and its file also carries a stray row from 01-08 (outside its window).
    await stageByHand(stage, late, [
      row('2024-01-11', '1', 200),
      row('2024-01-15', '1', 200),
      row('2024-01-08', '1', 999),
    ]);

    const file = join(directory.path, 'warehouse.duckdb');
    const warehouse = new DuckDbWarehouse(file);
    try {
      await loadWindows({ stage, warehouse, progress: () => undefined }, BNT_HOURLY_TRAFFIC, [early, late]);
      await loadWindows({ stage, warehouse, progress: () => undefined }, BNT_HOURLY_TRAFFIC, [early, late]);
    } finally {
      await warehouse.close();
    }

    const instance = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
    try {
      const connection = await instance.connect();
      const rows = (
        await connection.runAndReadAll(
          'SELECT date::VARCHAR AS date, vehicles_e_zpass FROM bronze.bnt_traffic_hourly ORDER BY date',
        )
      ).getRowObjectsJson();
      connection.closeSync();
      assert.deepEqual(rows, [
        { date: '2024-01-08', vehicles_e_zpass: 100 },
        { date: '2024-01-11', vehicles_e_zpass: 200 },
        { date: '2024-01-15', vehicles_e_zpass: 200 },
      ]);
    } finally {
      instance.closeSync();
    }
  });

  test('a window without a manifest is refused before anything is loaded', async () => {
    const stage = new LocalStageStore(directory.path);
    const warehouse = new DuckDbWarehouse(join(directory.path, 'other.duckdb'));
    try {
      await assert.rejects(
        loadWindows({ stage, warehouse, progress: () => undefined }, BNT_HOURLY_TRAFFIC, [
          { start: '2023-01-01', stop: '2023-01-08' },
        ]),
        /is not completely staged .* \(no stage\/bnt-hourly-traffic\/2023-01-01_2023-01-08\/_manifest\.json\); stage it again/,
      );
    } finally {
      await warehouse.close();
    }
  });
});

describe('loads into one table at once', () => {
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
  before(async () => {
    directory = await temporaryDirectory();
  });
  after(() => directory.remove());

  test('two overlapping loads started together both land correct: they take turns on the table', async () => {
    const stage = new LocalStageStore(directory.path);
    const weeks = [
      { start: '2024-01-07', stop: '2024-01-14' },
      { start: '2024-01-14', stop: '2024-01-21' },
    ];
    for (const [index, week] of weeks.entries()) {
      const days = Array.from({ length: 7 }, (_, day) => addDays(week.start, day));
      await stageByHand(
        stage,
        week,
        days.flatMap((date) => Array.from({ length: 24 }, (_, hour) => row(date, String(hour), index + 1))),
      );
    }
    const file = join(directory.path, 'warehouse.duckdb');
    // Each load has its own warehouse object, as two activities (or a timer run and a backfill) would.
    const ports = (): StepPorts => ({
      source: undefined as unknown as SocrataClient,
      stage,
      warehouse: new DuckDbWarehouse(file),
      progress: () => undefined,
      tuning: { tableLockWaitMs: 60_000 },
    });
    const results = await Promise.all([
      loadWindowsStep(ports(), { dataset: BNT_HOURLY_TRAFFIC.name, windows: weeks }),
      loadWindowsStep(ports(), { dataset: BNT_HOURLY_TRAFFIC.name, windows: [weeks[1] as Window] }),
    ]);
    assert.deepEqual(
      results.map((result) => result.staged),
      [14 * 24, 7 * 24],
    );
    const instance = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
    try {
      const connection = await instance.connect();
      const [counts] = (
        await connection.runAndReadAll(
          'SELECT count(*)::INT AS n, count(DISTINCT (plaza_id, date, hour, direction))::INT AS keys, sum(vehicles_e_zpass)::INT AS total FROM bronze.bnt_traffic_hourly',
        )
      ).getRowObjectsJson();
      connection.closeSync();
      assert.deepEqual(counts, { n: 14 * 24, keys: 14 * 24, total: 7 * 24 * 1 + 7 * 24 * 2 });
    } finally {
      instance.closeSync();
    }
  });
});

describe('manifests are trusted only as far as the layout', () => {
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
  before(async () => {
    directory = await temporaryDirectory();
  });
  after(() => directory.remove());

  const week = { start: '2024-01-07', stop: '2024-01-14' };
  const cases: [string, (layout: ReturnType<typeof windowLayout>) => Partial<Manifest>][] = [
    ['a path that leaves the stage', () => ({ parts: ['../../../../etc/hostname'] })],
    [
      "another window's part",
      () => ({ parts: [windowLayout(BNT_HOURLY_TRAFFIC.name, { start: '2024-01-14', stop: '2024-01-21' }).part(0)] }),
    ],
    ['a file of the window that is not a part', (layout) => ({ parts: [layout.manifest] })],
    ['a part under a deeper folder', (layout) => ({ parts: [`${layout.prefix}/x/part-00000.jsonl`] })],
    ['a quarantine file elsewhere', () => ({ quarantineFile: '../../secrets.jsonl', quarantined: 0, fetched: 1 })],
  ];
  for (const [name, change] of cases) {
    test(`a manifest listing ${name} is refused, for every engine, before anything loads`, async () => {
      const stage = new LocalStageStore(directory.path);
      await stageByHand(stage, week, [row('2024-01-08', '1', 100)]);
      const layout = windowLayout(BNT_HOURLY_TRAFFIC.name, week);
      const manifest = JSON.parse((await stage.readText(layout.manifest)) ?? '{}') as Manifest;
      await stage.writeText(layout.manifest, JSON.stringify({ ...manifest, ...change(layout) }));
      const warehouse = new DuckDbWarehouse(join(directory.path, 'refused.duckdb'));
      try {
        await assert.rejects(
          loadWindows({ stage, warehouse, progress: () => undefined }, BNT_HOURLY_TRAFFIC, [week]),
          /the manifest stage\/bnt-hourly-traffic\/2024-01-07_2024-01-14\/_manifest\.json lists .*, which is not a file of this window .*; nothing was loaded/,
        );
        assert.equal(await warehouse.rowsInWindow(BNT_HOURLY_TRAFFIC, week), 0);
      } finally {
        await warehouse.close();
      }
    });
  }
});

describe('a load DuckDB refuses', () => {
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
  before(async () => {
    directory = await temporaryDirectory();
  });
  after(() => directory.remove());

  test('is one line naming the window, the staged file and what to do, without the statement DuckDB echoes', async () => {
    const stage = new LocalStageStore(directory.path);
    const week = { start: '2024-01-07', stop: '2024-01-14' };
    await stageByHand(stage, week, [row('2024-01-08', '1', 100)]);
    const part = windowLayout(BNT_HOURLY_TRAFFIC.name, week).part(0);
    // A part file damaged after staging (a disk, a hand): DuckDB cannot read it.
    await stage.writeText(part, '{"plaza_id": "21", "date": \n');
    const warehouse = new DuckDbWarehouse(join(directory.path, 'refused.duckdb'));
    try {
      await assert.rejects(
        loadWindows({ stage, warehouse, progress: () => undefined }, BNT_HOURLY_TRAFFIC, [week]),
        (error: Error) => {
          assert.doesNotMatch(error.message, /\n|LINE \d|read_json\(\[/);
          assert.match(
            error.message,
            /^loading bnt-hourly-traffic \[2024-01-07, 2024-01-14\) into .*refused\.duckdb failed, reading stage\/bnt-hourly-traffic\/2024-01-07_2024-01-14\/part-00000\.jsonl: .*JSON.*; run the window again to stage it afresh/,
          );
          return true;
        },
      );
    } finally {
      await warehouse.close();
    }
  });
});
