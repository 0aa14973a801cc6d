/**
 * The scenarios the review found failing under the real runtime, run through the task hub stand-in that
 * models it: the 16 KB custom-status limit, sub-orchestration starts that overwrite a running child, batched and
 * reordered completions, strict replays. Each backfill is started by the real starter (`handleBackfill`), so
 * it runs the real plan.
 */
import './support/core-standin';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HttpRequest, type Timer } from '@azure/functions';
import {
  LOAD_WINDOWS,
  PLAN_MISSING,
  REPORT_RUN,
  STAGE_WINDOW,
  VERIFY_WINDOW,
  reportRun,
} from '../../src/functions/activities';
import { BACKFILL_ORCHESTRATOR, backfillOrchestrator } from '../../src/functions/backfillOrchestrator';
import { BACKFILL_UNIT_ORCHESTRATOR, backfillUnitOrchestrator } from '../../src/functions/backfillUnitOrchestrator';
import { type BackfillDeps, handleBackfill } from '../../src/functions/startBackfill';
import { handleWeeklyTimer } from '../../src/functions/weeklyTimer';
import { WINDOW_ORCHESTRATOR, windowOrchestrator } from '../../src/functions/windowOrchestrator';
import { type RunLedger, stageLedger } from '../../src/pipeline/ledger';
import { type Window, addDays } from '../../src/pipeline/window';
import { weekStates } from '../../src/pipeline/window-states';
import { DEFAULT_SCHEDULE } from '../../src/run/settings';
import { LocalStageStore } from '../../src/stage/local';
import { planUnits, splitUnits } from '../../src/schedule/backfill-plan';
import { parseSchedule } from '../../src/schedule/occurrence';
import { MAX_ERROR_MESSAGE } from '../../src/schedule/outcome';
import { HubClient } from './support/durable-client';
import { MemoryLedger } from './support/memory-ledger';
import { scriptsAsActivities, type ActivityScript } from './support/replay';
import { ok, stageOutput, verified } from './support/scripts';
import { type ActivityHandler, MAX_CUSTOM_STATUS_KB, TaskHub, inProcess } from './support/task-hub';
import { temporaryDirectory } from '../support/fixtures';

const CROSSINGS = 'bnt-hourly-crossings';
const TRAFFIC = 'bnt-hourly-traffic';

function activities(
  dataset: string,
  overrides: Partial<Record<string, ActivityScript>> = {},
): Record<string, ActivityHandler> {
  return scriptsAsActivities({
    [STAGE_WINDOW]: (input: { window: Window }) => ok(stageOutput(dataset, input.window)),
    [LOAD_WINDOWS]: () => ok({ dataset, windows: 1, staged: 1 }),
    [VERIFY_WINDOW]: (input: { staged: number }) => verified(input.staged),
    [PLAN_MISSING]: () => ok({ missing: [], units: [], batches: [] }),
    [REPORT_RUN]: () => ok({ recorded: [] }),
    ...overrides,
  } as Record<string, ActivityScript>);
}

function hubFor(handlers: Record<string, ActivityHandler>, seed = 7): TaskHub {
  return new TaskHub({
    orchestrators: {
      [BACKFILL_ORCHESTRATOR]: backfillOrchestrator,
      [BACKFILL_UNIT_ORCHESTRATOR]: backfillUnitOrchestrator,
    },
    activities: handlers,
    seed,
    maxConcurrentActivities: 4,
  });
}

function deps(now: string, ledger: Pick<RunLedger, 'entries'> = new MemoryLedger()): BackfillDeps {
  return {
    findMissing: async () => [],
    planLoads: async () => [],
    ledger,
    log: () => {},
    now: () => new Date(now),
  };
}

async function start(
  hub: TaskHub,
  body: Record<string, unknown>,
  now: string,
  ledger?: Pick<RunLedger, 'entries'>,
): Promise<string> {
  const request = new HttpRequest({
    method: 'POST',
    url: 'https://bnt-func.azurewebsites.net/api/backfill',
    body: { string: JSON.stringify(body) },
  });
  const response = await handleBackfill(request, new HubClient(hub), deps(now, ledger));
  assert.equal(response.status, 202, JSON.stringify(response.jsonBody));
  return (response.jsonBody as { instanceId: string }).instanceId;
}

const LONGEST = 'x'.repeat(MAX_ERROR_MESSAGE);

describe('a long backfill against the host’s custom-status limit', () => {
  it('completes 25 years of crossings with every unit failing on the longest message, its status far under 16 KB', async (t) => {
    const hub = hubFor(
      activities(CROSSINGS, { [STAGE_WINDOW]: () => ({ ok: false, error: { kind: 'terminal', message: LONGEST } }) }),
    );
    const id = await start(
      hub,
      { dataset: CROSSINGS, startDate: '2019-01-01', stopDate: '2044-01-01', maxConcurrency: 16 },
      '2044-01-02T00:00:00Z',
    );
    await hub.run();
    const backfill = hub.execution(id);
    assert.equal(backfill?.runtimeStatus, 'Completed', backfill?.error);
    assert.equal(backfill?.output.counts.units, 53);
    assert.equal(backfill?.output.counts.failed, 53);
    assert.deepEqual(hub.stuck(), []);
    const largest = Math.max(...hub.executions.map((execution) => execution.maxCustomStatusBytes));
    t.diagnostic(`25-year crossings backfill, 53 units all failed: largest custom status ${largest} bytes UTF-16`);
    assert.ok(largest < 16 * 1024);
  });

  it('completes the full traffic history and 25 years of crossings, every unit loaded', async (t) => {
    for (const [dataset, startDate, stopDate, units] of [
      [TRAFFIC, '2010-01-01', '2026-12-01', 4],
      [CROSSINGS, '2019-01-01', '2044-01-01', 53],
    ] as const) {
      const hub = hubFor(activities(dataset), 11);
      const id = await start(hub, { dataset, startDate, stopDate }, '2044-01-02T00:00:00Z');
      await hub.run();
      const backfill = hub.execution(id);
      assert.equal(backfill?.runtimeStatus, 'Completed', backfill?.error);
      assert.deepEqual(backfill?.output.counts, { units, completed: units, stale: 0, failed: 0 });
      t.diagnostic(
        `${dataset} ${startDate}..${stopDate}: ${units} units, largest custom status ${backfill?.maxCustomStatusBytes} bytes`,
      );
    }
  });

  it('is what failed before: a status listing every unit fails the orchestration in the host', async () => {
    const perUnit = (count: number) => ({
      units: Object.fromEntries(
        Array.from({ length: count }, (_, i) => [`2019-01-01_2019-02-${String(i).padStart(2, '0')}-${i}`, 'pending']),
      ),
    });
    const hub = new TaskHub({
      orchestrators: {
        // The shape of today's main's status: every unit by window key.
        listing: function* (context) {
          context.df.setCustomStatus(perUnit(261));
          yield context.df.callActivity('noop');
          return 'done';
        },
      },
      activities: { noop: () => null },
    });
    hub.startNew('listing', 'listing', null);
    await hub.run();
    assert.equal(hub.execution('listing')?.runtimeStatus, 'Failed');
    assert.match(hub.execution('listing')?.error ?? '', new RegExp(`must not exceed ${MAX_CUSTOM_STATUS_KB} KB`));
    assert.equal(hub.execution('listing')?.calls.length, 0, 'it fails in its first episode, before any work starts');
  });
});

describe('overlapping backfills', () => {
  it('never share a unit id: both run to the end, every unit of each staged and loaded once', async () => {
    const staged: string[] = [];
    const hub = hubFor(
      activities(CROSSINGS, {
        [STAGE_WINDOW]: (input: { instanceId: string; window: Window }) => {
          staged.push(input.instanceId);
          return ok(stageOutput(CROSSINGS, input.window));
        },
      }),
      3,
    );
    // Started together (as two requests an instant apart can be): their ranges share two units.
    const first = await start(
      hub,
      { dataset: CROSSINGS, startDate: '2020-01-05', stopDate: '2021-01-03' },
      '2026-11-30T09:00:00Z',
    );
    const client = new HubClient(hub);
    // The second is refused while the first is running…
    const refused = await handleBackfill(
      new HttpRequest({
        method: 'POST',
        url: 'https://bnt-func.azurewebsites.net/api/backfill',
        body: { string: JSON.stringify({ dataset: CROSSINGS, startDate: '2020-01-05', stopDate: '2022-01-02' }) },
      }),
      client,
      deps('2026-11-30T09:00:00Z'),
    );
    assert.equal(refused.status, 409);
    assert.equal((refused.jsonBody as { running: { instanceId: string } }).running.instanceId, first);
    // …and had both started (a race the look-up cannot close), their units still have ids of their own.
    hub.startNew(BACKFILL_ORCHESTRATOR, 'second-backfill', {
      dataset: CROSSINGS,
      window: { start: '2020-01-05', stop: '2022-01-02' },
      mode: 'all',
      maxConcurrency: 4,
      plan: planUnits(CROSSINGS, [{ start: '2020-01-05', stop: '2022-01-02' }]),
    });
    await hub.run();
    assert.deepEqual(hub.stuck(), [], 'no backfill waits forever');
    assert.equal(hub.execution(first)?.runtimeStatus, 'Completed');
    assert.equal(hub.execution('second-backfill')?.runtimeStatus, 'Completed');
    assert.equal(hub.dropped.length, 0, 'no completion was lost to an overwritten child');
    assert.equal(new Set(staged).size, staged.length, 'no unit id staged twice');
    assert.equal(staged.length, 3 + 5, 'each backfill staged each of its own units');
    assert.equal(hub.execution('second-backfill')?.output.counts.completed, 5);
  });

  it('is what hung before: a second parent starting a running child’s id overwrites it, and the first waits forever', async () => {
    const hub = new TaskHub({
      orchestrators: {
        parent: function* (context) {
          return yield context.df.callSubOrchestrator('child', null, 'shared-unit-id');
        },
        child: function* (context) {
          return yield context.df.callActivity('work');
        },
      },
      activities: { work: () => 'staged' },
      batching: 'all',
    });
    hub.startNew('parent', 'first', null);
    hub.startNew('parent', 'second', null);
    await hub.run();
    const [overwritten, winner] = hub.executions.filter((execution) => execution.instanceId === 'shared-unit-id');
    assert.equal(overwritten?.overwrittenBy, winner?.executionId, 'the second start overwrote the running child');
    assert.equal(hub.execution(winner?.parentInstanceId ?? '')?.runtimeStatus, 'Completed');
    assert.deepEqual(
      hub.stuck().map((execution) => execution.instanceId),
      [overwritten?.parentInstanceId],
      'the other parent never hears from its child',
    );
  });
});

/**
 * The run ledger's two scenarios: each window run's verdict is recorded by the real `reportRun` activity, run
 * in-process into a local stage, and read back by the real timer and starter.
 */
describe('what the run ledger remembers', () => {
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
  let ledger: RunLedger;
  const saved = { ...process.env };
  before(async () => {
    directory = await temporaryDirectory();
    Object.assign(process.env, { BNT_STAGE: 'local', BNT_WAREHOUSE: 'duckdb', BNT_DATA_DIR: directory.path });
    delete process.env.KEY_VAULT_URL;
    ledger = stageLedger(new LocalStageStore(directory.path));
  });
  after(async () => {
    process.env = saved;
    await directory.remove();
  });
  const weekly: Timer = {
    isPastDue: false,
    schedule: { adjustForDST: false },
    scheduleStatus: { last: '', next: '', lastUpdated: '' },
  };

  it('a weekly fire after a failed week runs that week again (before, the next fire only ran the next week)', async () => {
    const failedWeek = { start: '2026-11-08', stop: '2026-11-15' };
    // The weeks before it ran well.
    for (let back = 1; back <= 4; back++) {
      const window = { start: addDays(failedWeek.start, -7 * back), stop: addDays(failedWeek.stop, -7 * back) };
      await ledger.record([
        {
          dataset: CROSSINGS,
          window,
          status: 'completed',
          fetched: 1,
          staged: 1,
          quarantined: 0,
          rowsInWindow: 1,
          instanceId: `${CROSSINGS}_${window.start}_${window.stop}`,
          finishedAt: `${window.stop}T12:30:00.000Z`,
        },
      ]);
    }
    let sourceDown = true;
    const staged: string[] = [];
    const hub = new TaskHub({
      orchestrators: { [WINDOW_ORCHESTRATOR]: windowOrchestrator },
      activities: {
        ...activities(CROSSINGS, {
          [STAGE_WINDOW]: (input: { window: Window; instanceId: string }) => {
            staged.push(input.instanceId);
            return sourceDown
              ? { ok: false, error: { kind: 'terminal', message: 'HTTP 400 (query.soql.malformed)' } }
              : ok(stageOutput(CROSSINGS, input.window));
          },
        }),
        [REPORT_RUN]: inProcess(reportRun),
      },
      start: new Date('2026-11-16T12:00:00Z'),
    });
    const fire = (at: string) =>
      handleWeeklyTimer(weekly, new HubClient(hub), {
        schedule: parseSchedule(DEFAULT_SCHEDULE),
        datasets: [CROSSINGS],
        healWeeks: 4,
        ledger,
        now: () => new Date(at),
        log: () => {},
      });
    const failedId = `${CROSSINGS}_${failedWeek.start}_${failedWeek.stop}`;
    await fire('2026-11-16T12:00:00Z');
    await hub.run();
    assert.equal(hub.execution(failedId)?.runtimeStatus, 'Failed');

    sourceDown = false;
    const starts = await fire('2026-11-23T12:00:00Z');
    await hub.run();
    assert.deepEqual(
      starts.map((start) => [start.instanceId, start.started, start.healing]),
      [
        [`${CROSSINGS}_2026-11-15_2026-11-22`, true, undefined],
        [failedId, true, 'failed'],
      ],
    );
    assert.deepEqual(staged, [failedId, `${CROSSINGS}_2026-11-15_2026-11-22`, failedId]);
    assert.equal(hub.execution(failedId)?.runtimeStatus, 'Completed', 'the failed week ran again, and loaded');
    const range = { start: failedWeek.start, stop: '2026-11-22' };
    assert.deepEqual(
      weekStates(await ledger.entries(CROSSINGS), range).map((week) => week.state),
      ['loaded', 'loaded'],
    );
    assert.deepEqual(hub.stuck(), []);
  });

  it('a unit that failed in an all backfill is still redone by a failed backfill after a missing backfill of the range ran (before, it was forgotten)', async () => {
    const range = { start: '2024-01-07', stop: '2024-09-29' }; // two units: 25 weeks and 13
    const units = splitUnits(CROSSINGS, [range]);
    const broken = units[1] as Window;
    let tableBroken = true;
    const verifiedUnits: string[] = [];
    const hub = new TaskHub({
      orchestrators: {
        [BACKFILL_ORCHESTRATOR]: backfillOrchestrator,
        [BACKFILL_UNIT_ORCHESTRATOR]: backfillUnitOrchestrator,
      },
      activities: {
        ...activities(CROSSINGS, {
          // The unit's rows were loaded, but fewer than staged: it fails at its verdict, and has rows in the table.
          [VERIFY_WINDOW]: (input: { window: Window; staged: number }) => {
            verifiedUnits.push(input.window.start);
            return tableBroken && input.window.start === broken.start
              ? { ok: false, error: { kind: 'terminal', message: 'the table holds 10 rows of the 26,000 staged' } }
              : verified(input.staged);
          },
        }),
        [REPORT_RUN]: inProcess(reportRun),
      },
      seed: 5,
    });
    const now = '2026-11-30T09:00:00Z';
    const all = await start(hub, { dataset: CROSSINGS, startDate: range.start, stopDate: range.stop }, now, ledger);
    await hub.run();
    assert.equal(hub.execution(all)?.output.counts.failed, 1);
    tableBroken = false;

    // A missing backfill of the range finds every week with rows (the broken unit's too) and does nothing.
    const missing = await start(
      hub,
      { dataset: CROSSINGS, startDate: range.start, stopDate: range.stop, mode: 'missing' },
      now,
      ledger,
    );
    await hub.run();
    assert.equal(hub.execution(missing)?.output.status, 'nothing-to-do');

    verifiedUnits.length = 0;
    const failed = await start(
      hub,
      { dataset: CROSSINGS, startDate: range.start, stopDate: range.stop, mode: 'failed' },
      now,
      ledger,
    );
    assert.deepEqual(
      (hub.execution(failed)?.input as { plan: { units: Window[] } }).plan.units,
      [broken],
      'the failed mode plans exactly the unit whose latest run failed',
    );
    await hub.run();
    assert.equal(hub.execution(failed)?.output.status, 'completed');
    assert.deepEqual(verifiedUnits, [broken.start]);
    assert.ok(
      weekStates(await ledger.entries(CROSSINGS), range).every((week) => week.state === 'loaded'),
      'every week of the range is loaded now',
    );
  });
});
