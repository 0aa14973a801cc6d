import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StageOutput } from '../../src/pipeline/steps';
import { type Window, splitWindow } from '../../src/pipeline/window';
import { MAX_BACKFILL_YEARS, MAX_CONCURRENCY } from '../../src/schedule/backfill-request';
import { type UnitPlan, type UnitSizing, planUnits, waves } from '../../src/schedule/backfill-plan';
import { BackfillProgress } from '../../src/schedule/backfill-progress';
import type { BackfillStep } from '../../src/schedule/messages';
import { MAX_ERROR_MESSAGE } from '../../src/schedule/outcome';
import { utf16Bytes } from '../functions/support/task-hub';

/** Units of five weeks of crossings (smaller than production's), so a few months hold several units and batches. */
const FIVE_WEEK_UNITS: UnitSizing = { pageRows: 10_000, rowsPerDay: 5_500 };

const DATASET = 'bnt-hourly-crossings';
const BACKFILL = 'bnt-hourly-crossings_backfill-all_2024-01-01_2024-04-01';
const at = new Date('2026-01-05T12:00:00Z');
const later = new Date('2026-01-05T12:30:00Z');

function staged(unit: Window, rows: number): StageOutput {
  return {
    dataset: DATASET,
    window: unit,
    chunks: [unit],
    fetched: rows,
    staged: rows,
    quarantined: 0,
    quarantineReasons: {},
    parts: [],
    quarantineFiles: [],
    requests: 3,
    missingFields: [],
    maxQuarantinePercent: 1,
  };
}

function progressFor(range: Window): { progress: BackfillProgress; units: readonly Window[] } {
  const plan = planUnits(DATASET, [range], FIVE_WEEK_UNITS);
  return {
    progress: new BackfillProgress(DATASET, range, 'all', BACKFILL, plan, waves(plan.units, 2).length),
    units: plan.units,
  };
}

describe('backfill progress', () => {
  it('holds a batch back until all its units are through staging', () => {
    const { progress, units } = progressFor({ start: '2024-01-01', stop: '2024-04-01' });
    progress.startWave([0, 1], at);
    assert.equal(progress.nextReadyBatch(), undefined);
    progress.recordStage(0, { ok: true, value: staged(units[0] as Window, 10) });
    progress.recordStage(1, { ok: true, value: staged(units[1] as Window, 10) });
    assert.equal(progress.nextReadyBatch(), undefined, 'unit 2 of the same batch has not staged');
    progress.startWave([2], at);
    progress.recordStage(2, { ok: false, error: { kind: 'terminal', message: 'count moved' } });
    assert.equal(progress.nextReadyBatch(), 0);
  });

  it('loads every chunk of the staged units in one call, and only those', () => {
    const { progress, units } = progressFor({ start: '2024-01-01', stop: '2024-04-01' });
    progress.startWave([0, 1, 2], at);
    progress.recordStage(0, { ok: true, value: staged(units[0] as Window, 10) });
    progress.recordStage(1, { ok: false, error: { kind: 'terminal', message: 'count moved' } });
    progress.recordStage(2, { ok: true, value: staged(units[2] as Window, 10) });
    assert.deepEqual(progress.loadInput(0, 'backfill-id'), {
      instanceId: 'backfill-id',
      dataset: DATASET,
      window: { start: units[0]?.start, stop: units[2]?.stop },
      windows: [units[0], units[2]],
    });
  });

  it('fails every staged unit of a batch whose load failed, and verifies none of them', () => {
    const { progress, units } = progressFor({ start: '2024-01-01', stop: '2024-03-01' });
    progress.startWave([0, 1], at);
    units.forEach((unit, index) => progress.recordStage(index, { ok: true, value: staged(unit, 10) }));
    progress.recordLoad(0, { ok: false, error: { kind: 'terminal', message: 'MERGE failed' } });
    assert.deepEqual(progress.unitsToVerify(0), []);
    const runs = progress.finishBatch(0, later);
    assert.deepEqual(
      runs.map((run) => [run.status, run.error?.message]),
      [
        ['failed', 'MERGE failed'],
        ['failed', 'MERGE failed'],
      ],
    );
  });

  it('writes one summary per unit: completed, stale or failed, with counts, duration and finish time', () => {
    const { progress, units } = progressFor({ start: '2024-01-01', stop: '2024-03-01' });
    progress.startWave([0, 1], at);
    progress.recordStage(0, { ok: true, value: staged(units[0] as Window, 10) });
    progress.recordStage(1, { ok: true, value: staged(units[1] as Window, 0) });
    progress.recordLoad(0, { ok: true, value: {} });
    progress.recordVerify(0, { ok: true, value: { rowsInWindow: 10, newestInSource: null, status: 'completed' } });
    progress.recordVerify(1, {
      ok: true,
      value: { rowsInWindow: 0, newestInSource: '2023-12-31T23:00:00.000', status: 'stale' },
    });
    const [first, second] = progress.finishBatch(0, later);
    assert.deepEqual(first, {
      dataset: DATASET,
      start: units[0]?.start,
      stop: units[0]?.stop,
      instanceId: `${BACKFILL}_unit_2024-01-01_2024-02-05`,
      status: 'completed',
      fetched: 10,
      staged: 10,
      quarantined: 0,
      rowsInWindow: 10,
      newestInSource: null,
      durationMs: 30 * 60_000,
      maxQuarantinePercent: 1,
      missingFields: [],
      finishedAt: later.toISOString(),
    });
    assert.equal(second?.status, 'stale');
    const output = progress.output(123);
    assert.equal(output.status, 'completed');
    assert.deepEqual(output.counts, { units: 2, completed: 1, stale: 1, failed: 0 });
    assert.equal(output.merges, 1);
  });

  it('reports a partial backfill when some units failed', () => {
    const { progress, units } = progressFor({ start: '2024-01-01', stop: '2024-03-01' });
    progress.startWave([0, 1], at);
    progress.recordStage(0, { ok: true, value: staged(units[0] as Window, 10) });
    progress.recordStage(1, { ok: false, error: { kind: 'transient', message: 'HTTP 503' } });
    progress.recordLoad(0, { ok: true, value: {} });
    progress.recordVerify(0, { ok: true, value: { rowsInWindow: 10, newestInSource: null, status: 'completed' } });
    progress.finishBatch(0, later);
    const output = progress.output(1);
    assert.equal(output.status, 'partial');
    assert.deepEqual(output.failures, [{ ...units[1], step: 'stage', kind: 'transient', message: 'HTTP 503' }]);
  });

  it('keeps its custom status under 16 KB (UTF-16) for any accepted request: 25 years, every unit failed with the longest message', (t) => {
    const range = { start: '2019-01-01', stop: `${2019 + MAX_BACKFILL_YEARS}-01-01` };
    // The most units a request can plan: the whole range (all mode), or every other week missing (missing mode).
    const everyOtherWeek = splitWindow(range, 7).filter((_, index) => index % 2 === 0);
    const plans: [string, UnitPlan][] = [
      ['all', planUnits(DATASET, [range], FIVE_WEEK_UNITS)],
      ['missing, every other week', planUnits(DATASET, everyOtherWeek, FIVE_WEEK_UNITS)],
    ];
    // The longest message an activity returns, made of what costs most in UTF-16 JSON: quotes and backslashes
    // (escaped), control characters (six characters each if left in), astral characters (two units each).
    const longest = '"\\\u0001😀'.repeat(MAX_ERROR_MESSAGE).slice(0, MAX_ERROR_MESSAGE);
    const error = { kind: 'terminal' as const, message: longest, field: longest };
    let largest = 0;
    for (const [name, plan] of plans) {
      const progress = new BackfillProgress(
        DATASET,
        range,
        'missing',
        `${DATASET}_backfill-missing_${range.start}_${range.stop}`,
        plan,
        waves(plan.units, MAX_CONCURRENCY).length,
      );
      const steps: BackfillStep[] = ['find-missing', 'stage', 'load', 'verify', 'done', 'failed'];
      const measure = () => {
        for (const step of steps)
          largest = Math.max(largest, utf16Bytes(progress.customStatus(step, { step, ...error })));
      };
      measure();
      plan.units.forEach((_, index) => progress.startWave([index], at));
      plan.units.forEach((_, index) => {
        progress.recordStage(index, { ok: false, error });
        measure();
      });
      assert.equal(progress.customStatus('done').units.failed, plan.units.length, name);
      t.diagnostic(`${name}: ${plan.units.length} units, all failed`);
    }
    t.diagnostic(`largest custom status: ${largest} bytes UTF-16 (limit 16,384)`);
    assert.ok(largest < 16 * 1024, `${largest} bytes`);
  });
});
