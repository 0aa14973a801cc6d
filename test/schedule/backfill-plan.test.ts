import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Window } from '../../src/pipeline/window';
import { backfillInstanceId } from '../../src/schedule/instances';
import {
  LOAD_BATCH_MAX_DAYS,
  batchWindows,
  daysIn,
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
  it('are sized in rows: traffic about a year, crossings about four weeks, both 150,000–250,000 rows', () => {
    assert.equal(unitDays('bnt-hourly-traffic'), 413);
    assert.equal(unitDays('bnt-hourly-crossings'), 35);
    for (const [dataset, perDay] of [
      ['bnt-hourly-traffic', 480],
      ['bnt-hourly-crossings', 5_500],
    ] as const) {
      const rows = unitDays(dataset) * perDay;
      assert.ok(rows >= 150_000 && rows <= 250_000, `${dataset}: ${rows} rows`);
    }
  });

  it('tile the range exactly, the last one shorter', () => {
    const units = splitUnits('bnt-hourly-crossings', [{ start: '2024-01-01', stop: '2024-04-01' }]);
    assert.deepEqual(units, [
      { start: '2024-01-01', stop: '2024-02-05' },
      { start: '2024-02-05', stop: '2024-03-11' },
      { start: '2024-03-11', stop: '2024-04-01' },
    ]);
  });

  it('are cut from each part separately (the missing mode’s stretches)', () => {
    const parts = [
      { start: '2024-01-07', stop: '2024-01-21' },
      { start: '2024-06-02', stop: '2024-09-01' },
    ];
    const units = splitUnits('bnt-hourly-crossings', parts);
    assert.deepEqual(units[0], parts[0]);
    assertTiles(units.slice(1), parts[1] as Window);
  });

  it('cost a count, the pages and the empty page that ends paging', () => {
    assert.equal(estimatedRequests('bnt-hourly-traffic', { start: '2024-01-01', stop: '2025-02-17' }), 4 + 2);
    assert.equal(estimatedRequests('bnt-hourly-traffic', { start: '2024-01-01', stop: '2024-01-02' }), 1 + 2);
  });
});

describe('the full-history traffic backfill (2010-01-01 to 2025-06-01, ~2.7 million rows)', () => {
  const backfillId = backfillInstanceId('bnt-hourly-traffic', FULL_HISTORY, 'all');
  const plan = planBackfill('bnt-hourly-traffic', backfillId, planUnits('bnt-hourly-traffic', [FULL_HISTORY]), 4);

  it('covers the whole range in units of about a year', () => {
    assertTiles(plan.units, FULL_HISTORY);
    assert.equal(plan.units.length, 14);
    assert.ok(plan.estimatedRows > 2_650_000 && plan.estimatedRows < 2_750_000, `${plan.estimatedRows} rows`);
  });

  it('needs at most 100 source requests without retries', () => {
    assert.equal(plan.estimatedRequests, 83);
    assert.ok(plan.estimatedRequests <= 100);
  });

  it('needs at most 20 MERGE statements, and no more than one per year of history', () => {
    assert.equal(plan.merges, 14);
    assert.ok(plan.merges <= 20);
    assert.ok(plan.merges <= Math.ceil(daysIn(FULL_HISTORY) / 365));
  });

  it('stages in waves of at most maxConcurrency units', () => {
    assert.equal(plan.waves, 4);
    assert.deepEqual(
      waves(plan.units, 4).map((wave) => wave.length),
      [4, 4, 4, 2],
    );
  });

  it('gives every unit its own deterministic instance id, under the backfill’s id', () => {
    assert.equal(
      plan.units[0]?.instanceId,
      'bnt-hourly-traffic_backfill-all_2010-01-01_2025-06-01_unit_2010-01-01_2011-02-18',
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
