import './support/core-standin';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Timer } from '@azure/functions';
import { type WeeklyTimerDeps, handleWeeklyTimer } from '../../src/functions/weeklyTimer';
import { WINDOW_ORCHESTRATOR } from '../../src/functions/windowOrchestrator';
import { DEFAULT_SCHEDULE } from '../../src/run/settings';
import { parseSchedule } from '../../src/schedule/occurrence';
import { StandInDurableClient } from './support/durable-client';

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

function deps(invokedAt: string, lines: string[] = []): WeeklyTimerDeps {
  return {
    schedule: parseSchedule(DEFAULT_SCHEDULE),
    datasets: ['bnt-hourly-traffic', 'bnt-hourly-crossings'],
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
