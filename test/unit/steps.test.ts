import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TerminalError } from '../../src/common/errors';
import type { StageStore, Warehouse } from '../../src/pipeline/ports';
import type { SocrataClient } from '../../src/pipeline/source';
import { type StepPorts, findMissingStep, verifyWindowStep } from '../../src/pipeline/steps';

/** Ports whose warehouse answers counts and days from a list; nothing else may be touched. */
function ports(table: { rows?: number; days?: string[]; newest?: string }): StepPorts {
  const untouchable = () => {
    throw new Error('this step must not touch this');
  };
  const warehouse = {
    tableName: () => 'bronze.bnt_traffic_hourly',
    rowsInWindow: async () => table.rows ?? 0,
    daysWithRows: async () => table.days ?? [],
    close: async () => undefined,
  } as unknown as Warehouse;
  const source = { max: async () => table.newest } as unknown as SocrataClient;
  // Only the table's lock may be taken on the stage; nothing is read or written there.
  const stage = new Proxy(
    {
      acquireLock: async () => ({ lost: new AbortController().signal, release: async () => undefined }),
    },
    { get: (target, property) => (property === 'acquireLock' ? target.acquireLock : untouchable()) },
  ) as unknown as StageStore;
  return { source, stage, warehouse, progress: () => undefined };
}

const week = { start: '2024-01-07', stop: '2024-01-14' };

test('verify fails a run whose table holds fewer rows than were staged, naming both numbers', async () => {
  await assert.rejects(
    verifyWindowStep(ports({ rows: 3_000 }), { dataset: 'bnt-hourly-traffic', window: week, staged: 3_360 }),
    (error: Error) =>
      error instanceof TerminalError &&
      /the table holds 3,000 rows for the window but 3,360 were staged/.test(error.message),
  );
});

test('verify passes when the table holds at least what was staged, and asks the source nothing', async () => {
  const result = await verifyWindowStep(ports({ rows: 3_400, newest: 'unused' }), {
    dataset: 'bnt-hourly-traffic',
    window: week,
    staged: 3_360,
  });
  assert.deepEqual(result, { rowsInWindow: 3_400, newestInSource: null, status: 'completed' });
});

test('an empty window whose source stopped before it is stale; one with newer data is not', async () => {
  const frozen = await verifyWindowStep(ports({ newest: '2025-04-12T00:00:00.000' }), {
    dataset: 'bnt-hourly-traffic',
    window: { start: '2026-11-15', stop: '2026-11-22' },
    staged: 0,
  });
  assert.deepEqual(frozen, { rowsInWindow: 0, newestInSource: '2025-04-12T00:00:00.000', status: 'stale' });
  const gap = await verifyWindowStep(ports({ newest: '2024-02-01T00:00:00.000' }), {
    dataset: 'bnt-hourly-traffic',
    window: week,
    staged: 0,
  });
  assert.equal(gap.status, 'completed');
});

test('missing weeks are the 7-day weeks from the start with no rows, merged into windows', async () => {
  const result = await findMissingStep(ports({ days: ['2024-01-02', '2024-01-20', '2024-01-21'] }), {
    dataset: 'bnt-hourly-traffic',
    window: { start: '2024-01-01', stop: '2024-02-10' },
  });
  assert.deepEqual(result.missing, [
    { start: '2024-01-08', stop: '2024-01-15' },
    { start: '2024-01-22', stop: '2024-02-10' },
  ]);
});
