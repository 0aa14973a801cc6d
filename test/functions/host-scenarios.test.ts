/**
 * The scenarios the review found failing under the real runtime, run through the task hub stand-in that
 * models it: the 16 KB custom-status limit, sub-orchestration starts that overwrite a running child, batched and
 * reordered completions, strict replays. Each backfill is started by the real starter (`handleBackfill`), so
 * it runs the real plan.
 */
import './support/core-standin';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpRequest } from '@azure/functions';
import { LOAD_WINDOWS, PLAN_MISSING, REPORT_RUN, STAGE_WINDOW, VERIFY_WINDOW } from '../../src/functions/activities';
import { BACKFILL_ORCHESTRATOR, backfillOrchestrator } from '../../src/functions/backfillOrchestrator';
import { BACKFILL_UNIT_ORCHESTRATOR, backfillUnitOrchestrator } from '../../src/functions/backfillUnitOrchestrator';
import { type BackfillDeps, handleBackfill } from '../../src/functions/startBackfill';
import type { Window } from '../../src/pipeline/window';
import { planUnits } from '../../src/schedule/backfill-plan';
import { MAX_ERROR_MESSAGE } from '../../src/schedule/outcome';
import { HubClient } from './support/durable-client';
import { MemoryLedger } from './support/memory-ledger';
import { scriptsAsActivities, type ActivityScript } from './support/replay';
import { ok, stageOutput, verified } from './support/scripts';
import { type ActivityHandler, MAX_CUSTOM_STATUS_KB, TaskHub } from './support/task-hub';

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

function deps(now: string): BackfillDeps {
  return {
    findMissing: async () => [],
    planLoads: async () => [],
    ledger: new MemoryLedger(),
    log: () => {},
    now: () => new Date(now),
  };
}

async function start(hub: TaskHub, body: Record<string, unknown>, now: string): Promise<string> {
  const request = new HttpRequest({
    method: 'POST',
    url: 'https://bnt-func.azurewebsites.net/api/backfill',
    body: { string: JSON.stringify(body) },
  });
  const response = await handleBackfill(request, new HubClient(hub), deps(now));
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
    assert.equal(backfill?.output.counts.units, 261);
    assert.equal(backfill?.output.counts.failed, 261);
    assert.deepEqual(hub.stuck(), []);
    const largest = Math.max(...hub.executions.map((execution) => execution.maxCustomStatusBytes));
    t.diagnostic(`25-year crossings backfill, 261 units all failed: largest custom status ${largest} bytes UTF-16`);
    assert.ok(largest < 16 * 1024);
  });

  it('completes the full traffic history and 25 years of crossings, every unit loaded', async (t) => {
    for (const [dataset, startDate, stopDate, units] of [
      [TRAFFIC, '2010-01-01', '2026-12-01', 15],
      [CROSSINGS, '2019-01-01', '2044-01-01', 261],
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
    // Started together (as two requests an instant apart can be): their ranges share ten units.
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
    assert.equal(staged.length, 11 + 21, 'each backfill staged each of its own units');
    assert.equal(hub.execution('second-backfill')?.output.counts.completed, 21);
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
