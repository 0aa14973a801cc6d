import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type LedgerEntry,
  type LedgerRecord,
  ledgerPath,
  parseLedgerPath,
  readLedger,
  readLedgerRecord,
  writeLedgerRecord,
} from '../../src/pipeline/ledger';
import type { RunStatus } from '../../src/pipeline/summary';
import type { Window } from '../../src/pipeline/window';
import { failedStretches, weekStates, windowStates } from '../../src/pipeline/window-states';
import { LocalStageStore } from '../../src/stage/local';
import { temporaryDirectory } from '../support/fixtures';

const DATASET = 'bnt-hourly-crossings';

function record(window: Window, status: RunStatus, finishedAt: string, instanceId = 'cli'): LedgerRecord {
  return {
    dataset: DATASET,
    window,
    status,
    fetched: 10,
    staged: 10,
    quarantined: 0,
    rowsInWindow: 10,
    instanceId,
    ...(status === 'failed' ? { error: { kind: 'terminal', message: 'HTTP 400' } } : {}),
    finishedAt,
  };
}

function entry(window: Window, status: RunStatus, finishedAt: string, instanceId = 'cli'): LedgerEntry {
  const parsed = parseLedgerPath(ledgerPath(record(window, status, finishedAt, instanceId)));
  assert.ok(parsed);
  return parsed;
}

describe('ledger records', () => {
  it('name their record with everything a state needs, and read it back from the name alone', () => {
    const run = record(
      { start: '2026-11-15', stop: '2026-11-22' },
      'completed',
      '2026-11-23T12:03:12.045Z',
      'bnt-hourly-crossings_2026-11-15_2026-11-22',
    );
    const path = ledgerPath(run);
    assert.equal(
      path,
      'ledger/bnt-hourly-crossings/20261123T120312045Z_2026-11-15_2026-11-22_completed_bnt-hourly-crossings_2026-11-15_2026-11-22.json',
    );
    assert.deepEqual(parseLedgerPath(path), {
      path,
      dataset: DATASET,
      window: run.window,
      status: 'completed',
      instanceId: run.instanceId,
      finishedAt: run.finishedAt,
    });
  });

  it('keep a name safe for any instance id, and ignore files that are not records', () => {
    const path = ledgerPath(
      record({ start: '2024-01-01', stop: '2024-01-08' }, 'failed', '2024-01-09T00:00:00Z', 'a/b c:d'),
    );
    assert.match(path, /_failed_a-b-c-d\.json$/);
    for (const other of [
      'ledger/x/notes.txt',
      'ledger/x/20261123T120312045Z_2026-11-15_2026-11-22_completed_id.json.1234.tmp',
      'ledger/x/20261123T120312045Z_2026-11-22_2026-11-15_completed_id.json',
      'ledger/x/20261123T120312045Z_2026-11-15_2026-11-22_running_id.json',
      'stage/x/20261123T120312045Z_2026-11-15_2026-11-22_completed_id.json',
    ]) {
      assert.equal(parseLedgerPath(other), undefined, other);
    }
  });

  it('are written to the stage and listed oldest first, with their bodies readable', async () => {
    const directory = await temporaryDirectory();
    try {
      const stage = new LocalStageStore(directory.path);
      const week = { start: '2024-01-07', stop: '2024-01-14' };
      await writeLedgerRecord(stage, record(week, 'completed', '2024-02-01T00:00:00.000Z'));
      await writeLedgerRecord(stage, record(week, 'failed', '2024-01-15T00:00:00.000Z'));
      await writeLedgerRecord(stage, {
        ...record(week, 'stale', '2024-03-01T00:00:00.000Z'),
        dataset: 'bnt-hourly-traffic',
      });
      const entries = await readLedger(stage, DATASET);
      assert.deepEqual(
        entries.map((e) => [e.status, e.finishedAt]),
        [
          ['failed', '2024-01-15T00:00:00.000Z'],
          ['completed', '2024-02-01T00:00:00.000Z'],
        ],
      );
      assert.deepEqual(
        await readLedgerRecord(stage, entries[0] as LedgerEntry),
        record(week, 'failed', '2024-01-15T00:00:00.000Z'),
      );
      assert.deepEqual(await readLedger(new LocalStageStore(`${directory.path}/none`), DATASET), []);
    } finally {
      await directory.remove();
    }
  });
});

describe('a week’s state when runs of different windows overlap it', () => {
  const range = { start: '2024-01-07', stop: '2024-02-04' };
  const weeks = (entries: LedgerEntry[]) => weekStates(entries, range).map((week) => week.state);

  it('is never run without any record, and loaded when a unit of many weeks completed over it', () => {
    assert.deepEqual(weeks([]), ['never-run', 'never-run', 'never-run', 'never-run']);
    const unit = entry({ start: '2024-01-07', stop: '2024-02-11' }, 'completed', '2024-03-01T00:00:00Z', 'unit');
    assert.deepEqual(weeks([unit]), ['loaded', 'loaded', 'loaded', 'loaded']);
    assert.equal(weekStates([unit], range)[2]?.lastRun, unit);
  });

  it('comes in Sunday–Saturday weeks, the first and last cut where the range starts or stops mid-week', () => {
    // The traffic dataset starts on a Friday: its first week is two days long, then whole weeks follow.
    assert.deepEqual(
      weekStates([], { start: '2010-01-01', stop: '2010-01-20' }).map(({ window }) => window),
      [
        { start: '2010-01-01', stop: '2010-01-03' },
        { start: '2010-01-03', stop: '2010-01-10' },
        { start: '2010-01-10', stop: '2010-01-17' },
        { start: '2010-01-17', stop: '2010-01-20' },
      ],
    );
  });

  it('is failed when the latest run over any of its days failed, whatever ran before', () => {
    const unit = entry({ start: '2024-01-07', stop: '2024-02-11' }, 'completed', '2024-03-01T00:00:00Z', 'unit');
    const weekly = entry({ start: '2024-01-14', stop: '2024-01-21' }, 'failed', '2024-03-02T00:00:00Z', 'weekly');
    assert.deepEqual(weeks([unit, weekly]), ['loaded', 'failed', 'loaded', 'loaded']);
    // A run that finished earlier does not count over a later one, whatever order they are listed in.
    const earlier = entry({ start: '2024-01-14', stop: '2024-01-21' }, 'failed', '2024-02-01T00:00:00Z');
    assert.deepEqual(weeks([earlier, unit]), ['loaded', 'loaded', 'loaded', 'loaded']);
  });

  it('stays failed when a later run covered only some of its days, and the failed days are exactly what remains', () => {
    const weekly = entry({ start: '2024-01-14', stop: '2024-01-21' }, 'failed', '2024-03-02T00:00:00Z');
    const twoDays = entry({ start: '2024-01-16', stop: '2024-01-18' }, 'completed', '2024-03-03T00:00:00Z');
    const states = weekStates([weekly, twoDays], range);
    assert.equal(states[1]?.state, 'failed');
    assert.equal(states[1]?.lastRun, twoDays, 'the last run over the week is the later, partial one');
    assert.deepEqual(failedStretches([weekly, twoDays], range), [
      { start: '2024-01-14', stop: '2024-01-16' },
      { start: '2024-01-18', stop: '2024-01-21' },
    ]);
  });

  it('is never run when some of its days were never run, stale when the rest is stale', () => {
    const part = entry({ start: '2024-01-07', stop: '2024-01-10' }, 'completed', '2024-03-01T00:00:00Z');
    const stale = entry({ start: '2024-01-14', stop: '2024-01-21' }, 'stale', '2024-03-01T00:00:00Z');
    assert.deepEqual(weeks([part, stale]), ['never-run', 'stale', 'never-run', 'never-run']);
  });

  it('merges failed days across runs and weeks into stretches, inside the range only', () => {
    const a = entry({ start: '2024-01-01', stop: '2024-01-10' }, 'failed', '2024-03-01T00:00:00Z');
    const b = entry({ start: '2024-01-10', stop: '2024-01-12' }, 'failed', '2024-03-02T00:00:00Z');
    const c = entry({ start: '2024-01-28', stop: '2024-02-20' }, 'failed', '2024-03-03T00:00:00Z');
    assert.deepEqual(failedStretches([a, b, c], range), [
      { start: '2024-01-07', stop: '2024-01-12' },
      { start: '2024-01-28', stop: '2024-02-04' },
    ]);
    assert.deepEqual(
      windowStates([a, b, c], range, [{ start: '2024-01-12', stop: '2024-01-28' }])[0]?.state,
      'never-run',
    );
  });
});
