import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  INSTANCE_ID_PATTERN,
  backfillInstanceId,
  parseInstanceId,
  startDecision,
  unitInstanceId,
  windowInstanceId,
} from '../../src/schedule/instances';

const week = { start: '2026-11-15', stop: '2026-11-22' };

describe('instance ids', () => {
  it('name a weekly window by dataset and window, as the issue spells it', () => {
    assert.equal(windowInstanceId('bnt-hourly-traffic', week), 'bnt-hourly-traffic_2026-11-15_2026-11-22');
  });

  it('keep units and backfills apart from weekly windows over the same dates', () => {
    const ids = [
      windowInstanceId('bnt-hourly-traffic', week),
      unitInstanceId(backfillInstanceId('bnt-hourly-traffic', week, 'all'), week),
      backfillInstanceId('bnt-hourly-traffic', week, 'all'),
      backfillInstanceId('bnt-hourly-traffic', week, 'missing'),
      backfillInstanceId('bnt-hourly-traffic', week, 'failed'),
    ];
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids) assert.match(id, INSTANCE_ID_PATTERN);
  });

  it('parse back into kind, dataset, window and mode', () => {
    assert.deepEqual(parseInstanceId('bnt-hourly-crossings_2026-11-15_2026-11-22'), {
      kind: 'window',
      dataset: 'bnt-hourly-crossings',
      window: week,
    });
    const range = { start: '2026-01-04', stop: '2026-12-27' };
    const backfill = backfillInstanceId('bnt-hourly-traffic', range, 'all');
    assert.deepEqual(parseInstanceId(unitInstanceId(backfill, week)), {
      kind: 'unit',
      dataset: 'bnt-hourly-traffic',
      window: week,
      mode: 'all',
      backfill: { instanceId: backfill, window: range },
    });
    assert.deepEqual(parseInstanceId(backfillInstanceId('bnt-hourly-traffic', week, 'missing')), {
      kind: 'backfill',
      dataset: 'bnt-hourly-traffic',
      window: week,
      mode: 'missing',
    });
    assert.equal(parseInstanceId('3f2504e0-4f89-11d3-9a0c-0305e82c3301'), undefined);
  });

  it('give a unit an id no other backfill shares, even over the same unit window', () => {
    const unit = { start: '2020-01-05', stop: '2020-02-09' };
    const first = backfillInstanceId('bnt-hourly-crossings', { start: '2020-01-05', stop: '2021-01-03' }, 'all');
    const second = backfillInstanceId('bnt-hourly-crossings', { start: '2020-01-05', stop: '2022-01-02' }, 'all');
    const missing = backfillInstanceId('bnt-hourly-crossings', { start: '2020-01-05', stop: '2021-01-03' }, 'missing');
    const ids = [first, second, missing].map((backfill) => unitInstanceId(backfill, unit));
    assert.equal(new Set(ids).size, 3);
    for (const id of ids) assert.match(id, INSTANCE_ID_PATTERN);
  });

  it('refuse a window date that is not a date', () => {
    assert.throws(() => windowInstanceId('bnt-hourly-traffic', { start: '2026-11-15/..', stop: '2026-11-22' }));
  });
});

describe('whether to start an id', () => {
  it('starts when there is no run, or the last one failed, was terminated or canceled', () => {
    for (const status of [undefined, 'Failed', 'Terminated', 'Canceled']) {
      assert.equal(startDecision(status, false).start, true, String(status));
    }
  });

  it('never starts an id that is running, pending, continued-as-new or suspended', () => {
    for (const status of ['Running', 'Pending', 'ContinuedAsNew', 'Suspended']) {
      assert.equal(startDecision(status, false).start, false, status);
      assert.equal(startDecision(status, true).start, false, status);
    }
  });

  it('starts a completed id again only when a rerun is asked for', () => {
    assert.deepEqual(startDecision('Completed', false), { start: false, reason: 'already completed' });
    assert.equal(startDecision('Completed', true).start, true);
  });
});
