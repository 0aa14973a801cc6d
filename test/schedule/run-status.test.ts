import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type InstanceStatus,
  describeRun,
  latestOf,
  listEntry,
  unitStateOf,
  unitsRecordedFailed,
  unitsToRedo,
} from '../../src/schedule/run-status';

const WINDOW_ID = 'bnt-hourly-traffic_2026-11-15_2026-11-22';
const BACKFILL_ID = 'bnt-hourly-crossings_backfill-all_2024-01-01_2024-03-01';
const UNIT_1 = { start: '2024-01-01', stop: '2024-02-05' };
const UNIT_2 = { start: '2024-02-05', stop: '2024-03-01' };

function status(overrides: Partial<InstanceStatus>): InstanceStatus {
  return {
    instanceId: WINDOW_ID,
    name: 'windowOrchestrator',
    runtimeStatus: 'Running',
    createdTime: '2026-11-23T12:00:01Z',
    lastUpdatedTime: '2026-11-23T12:05:00Z',
    input: { dataset: 'bnt-hourly-traffic', window: { start: '2026-11-15', stop: '2026-11-22' } },
    output: null,
    customStatus: null,
    ...overrides,
  };
}

describe('a run’s status answer', () => {
  it('shows a running window’s step and counts so far', () => {
    const answer = describeRun(
      status({ customStatus: { step: 'load', counts: { fetched: 3360, staged: 3360, quarantined: 0 } } }),
    );
    assert.equal(answer.kind, 'window');
    assert.equal(answer.runtimeStatus, 'Running');
    assert.deepEqual(answer.window, { start: '2026-11-15', stop: '2026-11-22' });
    assert.equal(answer.step, 'load');
    assert.deepEqual(answer.counts, { fetched: 3360, staged: 3360, quarantined: 0 });
    assert.equal(answer.error, null);
    assert.equal(answer.createdTime, '2026-11-23T12:00:01.000Z');
  });

  it('shows a completed window’s output and its final counts', () => {
    const output = { status: 'stale', fetched: 0, staged: 0, quarantined: 0, rowsInWindow: 0, warning: 'stale source' };
    const answer = describeRun(
      status({ runtimeStatus: 'Completed', output, customStatus: { step: 'done', counts: {} } }),
    );
    assert.equal(answer.step, 'done');
    assert.deepEqual(answer.counts, { fetched: 0, staged: 0, quarantined: 0, rowsInWindow: 0 });
    assert.deepEqual(answer.result, output);
  });

  it('shows the failed step and its error summary', () => {
    const error = { step: 'load', kind: 'terminal', message: 'MERGE failed' };
    const answer = describeRun(
      status({
        runtimeStatus: 'Failed',
        output: 'load failed (terminal): MERGE failed',
        customStatus: { step: 'failed', counts: {}, error },
      }),
    );
    assert.deepEqual(answer.error, error);
    assert.equal(answer.result, null);
  });

  it('falls back to the runtime’s message for a failure the orchestration did not record', () => {
    const answer = describeRun(status({ runtimeStatus: 'Failed', output: 'Non-Deterministic workflow detected' }));
    assert.deepEqual(answer.error, { message: 'Non-Deterministic workflow detected' });
  });

  it('lists each unit of a running backfill from the plan in its input, pending until looked up', () => {
    const answer = describeRun(
      status({
        instanceId: BACKFILL_ID,
        name: 'backfillOrchestrator',
        input: {
          dataset: 'bnt-hourly-crossings',
          window: { start: '2024-01-01', stop: '2024-03-01' },
          mode: 'all',
          maxConcurrency: 4,
          plan: { units: [UNIT_1, UNIT_2], batches: [[0, 1]] },
        },
        customStatus: { step: 'stage', units: { total: 2, staging: 2 } },
      }),
    );
    assert.equal(answer.kind, 'backfill');
    assert.equal(answer.mode, 'all');
    assert.deepEqual(answer.units, [
      { ...UNIT_1, instanceId: `${BACKFILL_ID}_unit_2024-01-01_2024-02-05`, status: 'pending' },
      { ...UNIT_2, instanceId: `${BACKFILL_ID}_unit_2024-02-05_2024-03-01`, status: 'pending' },
    ]);
  });

  it('tells where a unit is from its own instance', () => {
    assert.equal(unitStateOf(undefined), 'pending');
    assert.equal(unitStateOf({ runtimeStatus: 'Running', output: null }), 'staging');
    assert.equal(unitStateOf({ runtimeStatus: 'Completed', output: { ok: true, value: {} } }), 'staged');
    assert.equal(unitStateOf({ runtimeStatus: 'Completed', output: { ok: false, error: {} } }), 'failed');
    assert.equal(unitStateOf({ runtimeStatus: 'Failed', output: 'x' }), 'failed');
    assert.equal(unitStateOf({ runtimeStatus: 'Terminated', output: null }), 'failed');
  });

  it('lists each unit of a completed backfill from its output', () => {
    const units = [
      { start: '2024-01-01', stop: '2024-02-05', instanceId: 'u1', status: 'failed', error: { message: 'x' } },
    ];
    const answer = describeRun(
      status({ instanceId: BACKFILL_ID, runtimeStatus: 'Completed', output: { status: 'failed', units } }),
    );
    assert.deepEqual(answer.units, [
      {
        start: '2024-01-01',
        stop: '2024-02-05',
        instanceId: `${BACKFILL_ID}_unit_2024-01-01_2024-02-05`,
        status: 'failed',
      },
    ]);
  });

  it('lists runs from the id alone (list calls return no inputs)', () => {
    assert.deepEqual(listEntry(status({ instanceId: BACKFILL_ID, input: undefined })), {
      instanceId: BACKFILL_ID,
      kind: 'backfill',
      orchestration: 'windowOrchestrator',
      runtimeStatus: 'Running',
      dataset: 'bnt-hourly-crossings',
      window: { start: '2024-01-01', stop: '2024-03-01' },
      mode: 'all',
      createdTime: '2026-11-23T12:00:01.000Z',
      lastUpdatedTime: '2026-11-23T12:05:00.000Z',
    });
  });
});

describe('failed units', () => {
  it('include units a backfill recorded as failed after staging', () => {
    const backfill = status({
      instanceId: BACKFILL_ID,
      runtimeStatus: 'Completed',
      output: {
        units: [
          { start: '2024-01-01', stop: '2024-02-05', status: 'failed' },
          { start: '2024-02-05', stop: '2024-03-01', status: 'completed' },
        ],
      },
    });
    assert.deepEqual(unitsRecordedFailed(backfill), [{ start: '2024-01-01', stop: '2024-02-05' }]);
  });

  it('are every planned unit of a backfill that ended without finishing: none is known loaded', () => {
    for (const runtimeStatus of ['Terminated', 'Failed']) {
      const backfill = status({
        instanceId: BACKFILL_ID,
        runtimeStatus,
        input: { plan: { units: [UNIT_1, UNIT_2], batches: [[0, 1]] } },
        output: 'The UTF-16 size of the JSON-serialized payload must not exceed 16 KB.',
      });
      assert.deepEqual(unitsRecordedFailed(backfill), [UNIT_1, UNIT_2], runtimeStatus);
    }
  });

  it('are none for a range no backfill ran, and the latest backfill’s otherwise', () => {
    assert.deepEqual(unitsToRedo([undefined, undefined]), []);
    const failedEarlier = status({
      instanceId: BACKFILL_ID,
      runtimeStatus: 'Completed',
      lastUpdatedTime: '2026-01-01T00:00:00Z',
      output: { units: [{ ...UNIT_1, status: 'failed' }] },
    });
    const fixedLater = status({
      instanceId: BACKFILL_ID.replace('backfill-all', 'backfill-failed'),
      runtimeStatus: 'Completed',
      lastUpdatedTime: '2026-02-01T00:00:00Z',
      output: { units: [{ ...UNIT_1, status: 'completed' }] },
    });
    assert.deepEqual(unitsToRedo([failedEarlier, undefined, fixedLater]), []);
    assert.deepEqual(unitsToRedo([failedEarlier]), [UNIT_1]);
  });

  it('come from the most recently updated backfill', () => {
    const older = status({ instanceId: 'a', lastUpdatedTime: '2026-01-01T00:00:00Z' });
    const newer = status({ instanceId: 'b', lastUpdatedTime: new Date('2026-02-01T00:00:00Z') });
    assert.equal(latestOf([older, undefined, newer])?.instanceId, 'b');
    assert.equal(latestOf([undefined]), undefined);
  });
});
