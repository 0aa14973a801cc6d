import './support/core-standin';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Timer } from '@azure/functions';
import { type WeeklyTimerDeps, handleWeeklyTimer } from '../../src/functions/weeklyTimer';
import { WINDOW_ORCHESTRATOR } from '../../src/functions/windowOrchestrator';
import { DEFAULT_SCHEDULE } from '../../src/run/settings';
import { earlierWeeks, healWeeks } from '../../src/schedule/heal';
import { parseSchedule } from '../../src/schedule/occurrence';
import { StandInDurableClient } from './support/durable-client';
import { MemoryLedger } from './support/memory-ledger';

const WEEK = { start: '2026-11-15', stop: '2026-11-22' };
const TRAFFIC_ID = 'bnt-hourly-traffic_2026-11-15_2026-11-22';
const CROSSINGS_ID = 'bnt-hourly-crossings_2026-11-15_2026-11-22';

function timer(isPastDue = false): Timer {
  return {
    isPastDue,
    schedule: { adjustForDST: false },
    scheduleStatus: {
      last: '2026-11-16T12:00:00+00:00',
      next: '2026-11-23T12:00:00+00:00',
      lastUpdated: '2026-11-16T12:00:00+00:00',
    },
  };
}

function deps(
  invokedAt: string,
  lines: string[] = [],
  heal: Pick<WeeklyTimerDeps, 'healWeeks' | 'ledger'> = { healWeeks: 0, ledger: new MemoryLedger() },
): WeeklyTimerDeps {
  return {
    schedule: parseSchedule(DEFAULT_SCHEDULE),
    datasets: ['bnt-hourly-traffic', 'bnt-hourly-crossings'],
    ...heal,
    now: () => new Date(invokedAt),
    log: (line) => lines.push(line),
  };
}

describe('the weekly timer', () => {
  it('starts one window orchestration per dataset for the week before the occurrence', async () => {
    const client = new StandInDurableClient();
    await handleWeeklyTimer(timer(), client, deps('2026-11-23T12:00:00.031Z'));
    assert.deepEqual(client.starts, [
      { name: WINDOW_ORCHESTRATOR, instanceId: TRAFFIC_ID, input: { dataset: 'bnt-hourly-traffic', window: WEEK } },
      { name: WINDOW_ORCHESTRATOR, instanceId: CROSSINGS_ID, input: { dataset: 'bnt-hourly-crossings', window: WEEK } },
    ]);
  });

  it('maps late, past-due and early fires to the same window and instance ids', async () => {
    for (const [invokedAt, pastDue] of [
      ['2026-11-23T19:42:10Z', true],
      ['2026-11-25T06:00:00Z', true],
      ['2026-11-23T11:59:59.600Z', false],
    ] as const) {
      const client = new StandInDurableClient();
      await handleWeeklyTimer(timer(pastDue), client, deps(invokedAt));
      assert.deepEqual(
        client.starts.map((start) => start.instanceId),
        [TRAFFIC_ID, CROSSINGS_ID],
        invokedAt,
      );
    }
  });

  it('starts nothing on a repeated fire while the window runs, and says why', async () => {
    const client = new StandInDurableClient();
    await handleWeeklyTimer(timer(), client, deps('2026-11-23T12:00:00.010Z'));
    client.set(TRAFFIC_ID, { name: WINDOW_ORCHESTRATOR, runtimeStatus: 'Running' });
    const lines: string[] = [];
    const second = await handleWeeklyTimer(timer(true), client, deps('2026-11-23T12:03:00Z', lines));
    assert.equal(client.starts.length, 2, 'only the first fire started anything');
    assert.deepEqual(
      second.map((start) => [start.instanceId, start.started]),
      [
        [TRAFFIC_ID, false],
        [CROSSINGS_ID, false],
      ],
    );
    assert.ok(lines.some((line) => line.includes(TRAFFIC_ID) && /not started: already running/.test(line)));
    assert.ok(lines.some((line) => line.includes(CROSSINGS_ID) && /not started: already pending/.test(line)));
  });

  it('leaves a completed window alone', async () => {
    const client = new StandInDurableClient()
      .set(TRAFFIC_ID, { name: WINDOW_ORCHESTRATOR, runtimeStatus: 'Completed' })
      .set(CROSSINGS_ID, { name: WINDOW_ORCHESTRATOR, runtimeStatus: 'Completed' });
    const starts = await handleWeeklyTimer(timer(), client, deps('2026-11-23T12:00:00Z'));
    assert.equal(client.starts.length, 0);
    assert.ok(starts.every((start) => start.reason === 'already completed'));
  });

  it('starts a failed or terminated window again', async () => {
    const client = new StandInDurableClient()
      .set(TRAFFIC_ID, { name: WINDOW_ORCHESTRATOR, runtimeStatus: 'Failed' })
      .set(CROSSINGS_ID, { name: WINDOW_ORCHESTRATOR, runtimeStatus: 'Terminated' });
    await handleWeeklyTimer(timer(true), client, deps('2026-11-24T08:00:00Z'));
    assert.deepEqual(
      client.starts.map((start) => start.instanceId),
      [TRAFFIC_ID, CROSSINGS_ID],
    );
  });

  it('treats a start refused because another fire won the race as already running', async () => {
    const client = new StandInDurableClient();
    client.beforeStart = (instanceId) =>
      client.set(instanceId, { name: WINDOW_ORCHESTRATOR, runtimeStatus: 'Running' });
    const starts = await handleWeeklyTimer(timer(), client, deps('2026-11-23T12:00:00Z'));
    assert.equal(client.starts.length, 0);
    assert.ok(
      starts.every((start) => !start.started && /already running \(another start won the race\)/.test(start.reason)),
    );
  });

  it('still starts the other datasets when one cannot be started, then fails the invocation', async () => {
    const client = new StandInDurableClient();
    client.beforeStart = (instanceId) => {
      if (instanceId === TRAFFIC_ID) throw new Error('queue unavailable');
    };
    await assert.rejects(
      handleWeeklyTimer(timer(), client, deps('2026-11-23T12:00:00Z')),
      /bnt-hourly-traffic_2026-11-15_2026-11-22: queue unavailable/,
    );
    assert.deepEqual(
      client.starts.map((start) => start.instanceId),
      [CROSSINGS_ID],
    );
  });

  it('logs every line with the run’s dataset, window and instance id', async () => {
    const lines: string[] = [];
    await handleWeeklyTimer(timer(), new StandInDurableClient(), deps('2026-11-23T12:00:00Z', lines));
    assert.ok(lines.includes(`[bnt-hourly-traffic 2026-11-15_2026-11-22 ${TRAFFIC_ID}] started: no earlier run`));
  });
});

describe('the weekly timer heals the weeks before its own', () => {
  const week = (start: string, stop: string) => ({ start, stop });
  const EARLIER = [
    week('2026-10-18', '2026-10-25'),
    week('2026-10-25', '2026-11-01'),
    week('2026-11-01', '2026-11-08'),
    week('2026-11-08', '2026-11-15'),
  ];
  const loaded = (ledger: MemoryLedger, dataset: string, window: { start: string; stop: string }) =>
    ledger.add({ dataset, window, status: 'completed', instanceId: 'x', finishedAt: `${window.stop}T13:00:00.000Z` });

  it('starts again, under their usual ids, the weeks of the last N whose latest run failed or that never ran', async () => {
    const ledger = new MemoryLedger();
    for (const window of EARLIER) loaded(ledger, 'bnt-hourly-traffic', window);
    // Crossings: one week failed after a backfill unit loaded it, one never ran, one was loaded by a unit of many weeks.
    ledger.add({
      dataset: 'bnt-hourly-crossings',
      window: week('2026-10-04', '2026-11-08'),
      status: 'completed',
      instanceId: 'unit',
      finishedAt: '2026-11-09T00:00:00.000Z',
    });
    ledger.add({
      dataset: 'bnt-hourly-crossings',
      window: EARLIER[1] as { start: string; stop: string },
      status: 'failed',
      instanceId: 'cli',
      finishedAt: '2026-11-20T00:00:00.000Z',
    });
    const client = new StandInDurableClient().set('bnt-hourly-crossings_2026-10-25_2026-11-01', {
      name: WINDOW_ORCHESTRATOR,
      runtimeStatus: 'Completed',
    });
    const lines: string[] = [];
    const starts = await handleWeeklyTimer(
      timer(),
      client,
      deps('2026-11-23T12:00:00Z', lines, { healWeeks: 4, ledger }),
    );
    assert.deepEqual(
      client.starts.map((start) => start.instanceId),
      [
        TRAFFIC_ID,
        CROSSINGS_ID,
        'bnt-hourly-crossings_2026-10-25_2026-11-01',
        'bnt-hourly-crossings_2026-11-08_2026-11-15',
      ],
      'this week first; then the failed week (its completed instance started again) and the week never run',
    );
    assert.deepEqual(
      starts.filter((start) => start.healing).map((start) => [start.window.start, start.healing]),
      [
        ['2026-10-25', 'failed'],
        ['2026-11-08', 'never-run'],
      ],
    );
    assert.deepEqual(client.starts[2]?.input, { dataset: 'bnt-hourly-crossings', window: EARLIER[1] });
    assert.ok(
      lines.some((line) =>
        /2026-10-25_2026-11-01\] healing a failed week: started: the last run is completed/.test(line),
      ),
    );
    assert.equal(ledger.listings, 2, 'one ledger listing per dataset');
  });

  it('leaves a running week alone, and heals nothing with BNT_HEAL_WEEKS=0', async () => {
    const ledger = new MemoryLedger();
    const client = new StandInDurableClient();
    for (const window of EARLIER) {
      for (const dataset of ['bnt-hourly-traffic', 'bnt-hourly-crossings']) {
        client.set(`${dataset}_${window.start}_${window.stop}`, {
          name: WINDOW_ORCHESTRATOR,
          runtimeStatus: 'Running',
        });
      }
    }
    const starts = await handleWeeklyTimer(timer(), client, deps('2026-11-23T12:00:00Z', [], { healWeeks: 4, ledger }));
    assert.deepEqual(
      client.starts.map((start) => start.instanceId),
      [TRAFFIC_ID, CROSSINGS_ID],
    );
    assert.equal(starts.filter((start) => start.healing && !start.started).length, 8);
    const off = new StandInDurableClient();
    await handleWeeklyTimer(timer(), off, deps('2026-11-23T12:00:00Z', [], { healWeeks: 0, ledger }));
    assert.equal(off.starts.length, 2);
    assert.equal(ledger.listings, 2, 'with healing off the ledger is not read');
  });

  it('still starts this week when the ledger cannot be read, then fails the invocation naming it', async () => {
    const client = new StandInDurableClient();
    const ledger = {
      entries: async () => {
        throw new Error('stage unreachable');
      },
    };
    await assert.rejects(
      handleWeeklyTimer(timer(), client, deps('2026-11-23T12:00:00Z', [], { healWeeks: 4, ledger })),
      /bnt-hourly-traffic's run ledger: stage unreachable/,
    );
    assert.deepEqual(
      client.starts.map((start) => start.instanceId),
      [TRAFFIC_ID, CROSSINGS_ID],
    );
  });

  it('reads BNT_HEAL_WEEKS as a whole number of weeks from 0 to 52, naming the setting otherwise', () => {
    assert.equal(healWeeks(undefined), 4);
    assert.equal(healWeeks(''), 4);
    assert.equal(healWeeks('0'), 0);
    assert.equal(healWeeks(' 8 '), 8);
    for (const bad of ['-1', '2.5', 'four', '53']) {
      assert.throws(() => healWeeks(bad), /BNT_HEAL_WEEKS ".*" must be a whole number of weeks from 0/, bad);
    }
    assert.deepEqual(earlierWeeks('bnt-hourly-crossings', week('2019-01-13', '2019-01-20'), 4), [
      week('2019-01-06', '2019-01-13'),
    ]);
  });
});
