import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Window, daysIn } from '../../src/pipeline/window';
import { backfillInstanceId } from '../../src/schedule/instances';
import {
  LOAD_BATCH_MAX_DAYS,
  batchWindows,
  estimatedRequests,
  loadBatches,
  planBackfill,
  planUnits,
  splitUnits,
  unitDays,
  waves,
} from '../../src/schedule/backfill-plan';

const FULL_HISTORY = { start: '2010-01-01', stop: '2025-06-01' };

function assertTiles(units: readonly Window[], range: Window): void {
  assert.equal(units[0]?.start, range.start);
  assert.equal(units.at(-1)?.stop, range.stop);
  units.slice(1).forEach((unit, index) => assert.equal(unit.start, units[index]?.stop, 'units are consecutive'));
}

describe('backfill units', () => {
  it('are sized in whole source pages: about 19.5 of them, so 20 pages end on a short one', () => {
    assert.equal(unitDays('bnt-hourly-traffic'), 2030);
    assert.equal(unitDays('bnt-hourly-crossings'), 175);
    for (const [dataset, perDay] of [
      ['bnt-hourly-traffic', 480],
      ['bnt-hourly-crossings', 5_500],
    ] as const) {
      const rows = unitDays(dataset) * perDay;
      assert.ok(rows > 19 * 50_000 && rows <= 19.5 * 50_000, `${dataset}: ${rows} rows`);
      assert.equal(unitDays(dataset) % 7, 0, 'whole weeks, the grain of the missing mode');
    }
  });

  it('scale with the page and the rows a day together', () => {
    assert.equal(unitDays('bnt-hourly-crossings', { pageRows: 2_500, rowsPerDay: 275 }), 175);
    assert.equal(unitDays('bnt-hourly-crossings', { pageRows: 50_000, rowsPerDay: 1_000_000 }), 7, 'at least a week');
  });

  it('tile the range exactly, the last one shorter', () => {
    const units = splitUnits('bnt-hourly-crossings', [{ start: '2024-01-01', stop: '2025-01-01' }]);
    assert.deepEqual(units, [
      { start: '2024-01-01', stop: '2024-06-24' },
      { start: '2024-06-24', stop: '2024-12-16' },
      { start: '2024-12-16', stop: '2025-01-01' },
    ]);
  });

  it('are cut from each part separately (the missing mode’s stretches)', () => {
    const parts = [
      { start: '2024-01-07', stop: '2024-01-21' },
      { start: '2024-06-02', stop: '2025-09-01' },
    ];
    const units = splitUnits('bnt-hourly-crossings', parts);
    assert.deepEqual(units[0], parts[0]);
    assertTiles(units.slice(1), parts[1] as Window);
  });

  it('cost a count and the pages up to the first short one: floor(rows / page) + 2', () => {
    // 2,030 days of traffic: 974,400 rows, 19 full pages and a short one.
    assert.equal(estimatedRequests('bnt-hourly-traffic', { start: '2010-01-01', stop: '2015-07-24' }), 1 + 20);
    assert.equal(estimatedRequests('bnt-hourly-traffic', { start: '2024-01-01', stop: '2024-01-02' }), 1 + 1);
    // Rows that end exactly on a page need the empty page after it.
    assert.equal(
      estimatedRequests('x', { start: '2024-01-01', stop: '2024-01-11' }, { pageRows: 100, rowsPerDay: 10 }),
      3,
    );
  });
});

describe('the full-history traffic backfill (2010-01-01 to 2025-06-01, ~2.7 million rows)', () => {
  const backfillId = backfillInstanceId('bnt-hourly-traffic', FULL_HISTORY, 'all');
  const plan = planBackfill('bnt-hourly-traffic', backfillId, planUnits('bnt-hourly-traffic', [FULL_HISTORY]), 4);

  it('covers the whole range in units of about five and a half years', () => {
    assertTiles(plan.units, FULL_HISTORY);
    assert.equal(plan.units.length, 3);
    assert.ok(plan.estimatedRows > 2_650_000 && plan.estimatedRows < 2_750_000, `${plan.estimatedRows} rows`);
  });

  it('needs 59 source requests without retries: its 57 pages and a count per unit', () => {
    assert.equal(plan.estimatedRequests, 21 + 21 + 17);
  });

  it('needs no more than one MERGE per unit, and no more than one per year of history', () => {
    assert.equal(plan.merges, 3);
    assert.ok(plan.merges <= Math.ceil(daysIn(FULL_HISTORY) / 365));
  });

  it('stages in waves of at most maxConcurrency units', () => {
    assert.equal(plan.waves, 1);
    assert.deepEqual(
      waves(plan.units, 2).map((wave) => wave.length),
      [2, 1],
    );
  });

  it('gives every unit its own deterministic instance id, under the backfill’s id', () => {
    assert.equal(
      plan.units[0]?.instanceId,
      'bnt-hourly-traffic_backfill-all_2010-01-01_2025-06-01_unit_2010-01-01_2015-07-24',
    );
    assert.equal(new Set(plan.units.map((unit) => unit.instanceId)).size, plan.units.length);
  });
});

describe('load batches', () => {
  it('put several crossings units in one MERGE, never more than a year of them', () => {
    const range = { start: '2019-01-01', stop: '2025-06-01' };
    const units = splitUnits('bnt-hourly-crossings', [range]);
    const batches = loadBatches(units);
    assert.ok(
      batches.every((batch) => batch.length > 1 || batch === batches.at(-1)),
      'several units per MERGE',
    );
    for (const batch of batchWindows(units, batches)) {
      assert.ok(batch.reduce((days, unit) => days + daysIn(unit), 0) <= LOAD_BATCH_MAX_DAYS);
    }
    assert.ok(batches.length <= Math.ceil(daysIn(range) / 365), `${batches.length} MERGEs for ${daysIn(range)} days`);
    assert.deepEqual(
      batches.flat(),
      units.map((_, index) => index),
      'every unit loads exactly once, in order',
    );
  });

  it('load a unit longer than the limit on its own', () => {
    assert.deepEqual(
      loadBatches([
        { start: '2010-01-01', stop: '2011-06-01' },
        { start: '2011-06-01', stop: '2011-07-01' },
      ]),
      [[0], [1]],
    );
  });

  it('hold only adjacent units: two missing weeks 12 years apart are two MERGEs', () => {
    const weeks = [
      { start: '2012-03-04', stop: '2012-03-11' },
      { start: '2024-03-03', stop: '2024-03-10' },
    ];
    const { units, batches } = planUnits('bnt-hourly-crossings', weeks);
    assert.deepEqual(units, weeks);
    assert.deepEqual(batches, [[0], [1]]);
  });

  it('keep adjacent stretches of the missing mode together, and split where a gap lies', () => {
    const parts = [
      { start: '2024-01-07', stop: '2024-03-03' },
      { start: '2024-03-10', stop: '2024-04-07' },
    ];
    const { units, batches } = planUnits('bnt-hourly-crossings', parts);
    for (const batch of batchWindows(units, batches)) {
      batch.slice(1).forEach((unit, index) => assert.equal(unit.start, batch[index]?.stop, 'adjacent within a batch'));
    }
    assert.deepEqual(
      batchWindows(units, batches).map((batch) => [batch[0]?.start, batch.at(-1)?.stop]),
      [
        ['2024-01-07', '2024-03-03'],
        ['2024-03-10', '2024-04-07'],
      ],
    );
  });
});

describe('waves', () => {
  it('refuse a size that is not a positive whole number', () => {
    assert.throws(() => waves([1, 2], 0));
    assert.throws(() => waves([1, 2], 1.5));
  });
});
