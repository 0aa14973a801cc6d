import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type LedgerEntry, ledgerPath, parseLedgerPath } from '../../src/pipeline/ledger';
import type { RunStatus } from '../../src/pipeline/summary';
import {
  type InstanceStatus,
  UNITS_PER_ANSWER,
  describeRun,
  listEntry,
  unitPage,
  unitStateOf,
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

  it('pages a backfill’s units from the plan in its input, each with its ledger verdict since the backfill began', () => {
    const backfill = status({
      instanceId: BACKFILL_ID,
      name: 'backfillOrchestrator',
      createdTime: '2026-11-29T08:00:00Z',
      input: { plan: { units: [UNIT_1, UNIT_2], batches: [[0, 1]] } },
    });
    const entry = (window: typeof UNIT_1, status: RunStatus, finishedAt: string, id = window): LedgerEntry =>
      parseLedgerPath(
        ledgerPath({
          dataset: 'bnt-hourly-crossings',
          window,
          status,
          finishedAt,
          instanceId: `${BACKFILL_ID}_unit_${id.start}_${id.stop}`,
        }),
      ) as LedgerEntry;
    const page = unitPage(
      backfill,
      [
        entry(UNIT_1, 'failed', '2026-11-29T09:00:00.000Z'),
        entry(UNIT_1, 'completed', '2026-11-29T10:00:00.000Z'),
        entry(UNIT_2, 'failed', '2026-11-01T00:00:00.000Z'),
      ],
      0,
    );
    assert.deepEqual(page.units, [
      { ...UNIT_1, instanceId: `${BACKFILL_ID}_unit_2024-01-01_2024-02-05`, status: 'completed', recorded: true },
      { ...UNIT_2, instanceId: `${BACKFILL_ID}_unit_2024-02-05_2024-03-01`, status: 'pending', recorded: false },
    ]);
    assert.deepEqual(page.page, { offset: 0, limit: UNITS_PER_ANSWER, total: 2 });
    assert.equal(describeRun(backfill).kind, 'backfill');
    assert.equal('units' in describeRun(backfill), false, 'the units are the status endpoint’s, page by page');
  });

  it('tells where a unit is from its own instance', () => {
    assert.equal(unitStateOf(undefined), 'pending');
    assert.equal(unitStateOf({ runtimeStatus: 'Running', output: null }), 'staging');
    assert.equal(unitStateOf({ runtimeStatus: 'Completed', output: { ok: true, value: {} } }), 'staged');
    assert.equal(unitStateOf({ runtimeStatus: 'Completed', output: { ok: false, error: {} } }), 'failed');
    assert.equal(unitStateOf({ runtimeStatus: 'Failed', output: 'x' }), 'failed');
    assert.equal(unitStateOf({ runtimeStatus: 'Terminated', output: null }), 'failed');
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
