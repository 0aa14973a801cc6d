import './support/core-standin';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOAD_WINDOWS, PLAN_MISSING, REPORT_RUN, STAGE_WINDOW, VERIFY_WINDOW } from '../../src/functions/activities';
import { BACKFILL_ORCHESTRATOR, backfillOrchestrator } from '../../src/functions/backfillOrchestrator';
import { BACKFILL_UNIT_ORCHESTRATOR, backfillUnitOrchestrator } from '../../src/functions/backfillUnitOrchestrator';
import type { Window } from '../../src/pipeline/window';
import { type UnitSizing, planUnits, splitUnits } from '../../src/schedule/backfill-plan';
import { unitInstanceId } from '../../src/schedule/instances';
import type { BackfillRunInput, LoadWindowsInput, ReportRunInput } from '../../src/schedule/messages';
import { type ActivityScript, type Call, type Run, type Scenario, runOrchestration } from './support/replay';
import { ok, stageOutput, verified } from './support/scripts';

const CROSSINGS = 'bnt-hourly-crossings';
const TRAFFIC = 'bnt-hourly-traffic';
const BACKFILL_ID = 'backfill-under-test';
/**
 * Units of five weeks of crossings, smaller than production's (the plan travels as data: the orchestration takes
 * whatever units it is given), so a year and a half holds 16 units, several waves and two batches.
 */
const FIVE_WEEK_UNITS: UnitSizing = { pageRows: 10_000, rowsPerDay: 5_500 };

function scenario(
  dataset: string,
  activities: Partial<Record<string, ActivityScript>> = {},
  extra: Partial<Scenario> = {},
): Scenario {
  return {
    activities: {
      [STAGE_WINDOW]: (input: { window: Window }) => ok(stageOutput(dataset, input.window)),
      [LOAD_WINDOWS]: (input: LoadWindowsInput) => ok({ dataset, windows: input.windows.length, staged: 1 }),
      [VERIFY_WINDOW]: (input: { staged: number }) => verified(input.staged),
      [PLAN_MISSING]: () => ok({ missing: [], units: [], batches: [] }),
      [REPORT_RUN]: () => ok({ recorded: [] }),
      ...activities,
    } as Record<string, ActivityScript>,
    orchestrators: { [BACKFILL_UNIT_ORCHESTRATOR]: backfillUnitOrchestrator },
    ...extra,
  };
}

function runBackfill(input: BackfillRunInput, script: Scenario): Promise<Run> {
  return runOrchestration(BACKFILL_ORCHESTRATOR, backfillOrchestrator, input, script, { instanceId: BACKFILL_ID });
}

const named = (run: Run, name: string): Call[] => run.calls.filter((call) => call.name === name);
const reported = (run: Run): ReportRunInput['runs'] =>
  named(run, REPORT_RUN).flatMap((call) => (call.input as ReportRunInput).runs);
/** Stage calls made inside the units' sub-orchestrations. */
const unitStages = (run: Run): Call[] => [...run.children.values()].flatMap((child) => named(child, STAGE_WINDOW));

describe('a backfill orchestration', () => {
  const range = { start: '2023-01-01', stop: '2024-07-01' }; // 547 days of crossings: 16 units of ≤ 5 weeks
  const units = splitUnits(CROSSINGS, [range], FIVE_WEEK_UNITS);

  it('stages every unit as its own sub-orchestration, under the unit’s instance id', async () => {
    const run = await runBackfill(
      {
        dataset: CROSSINGS,
        window: range,
        mode: 'all',
        maxConcurrency: 4,
        plan: planUnits(CROSSINGS, [range], FIVE_WEEK_UNITS),
      },
      scenario(CROSSINGS),
    );
    assert.equal(run.runtimeStatus, 'Completed');
    const starts = named(run, BACKFILL_UNIT_ORCHESTRATOR);
    assert.deepEqual(
      starts.map((call) => call.instanceId),
      units.map((unit) => unitInstanceId(BACKFILL_ID, unit)),
    );
    assert.deepEqual(starts[0]?.input, { dataset: CROSSINGS, window: units[0], backfillInstanceId: BACKFILL_ID });
    assert.deepEqual(
      unitStages(run).map((call) => call.input.instanceId),
      units.map((unit) => unitInstanceId(BACKFILL_ID, unit)),
      'each unit’s stage logs under the unit’s id',
    );
  });

  it('runs at most maxConcurrency units at once, in waves', async () => {
    for (const maxConcurrency of [1, 3, 16]) {
      const run = await runBackfill(
        {
          dataset: CROSSINGS,
          window: range,
          mode: 'all',
          maxConcurrency,
          plan: planUnits(CROSSINGS, [range], FIVE_WEEK_UNITS),
        },
        scenario(CROSSINGS),
      );
      assert.equal(
        run.maxConcurrentSubOrchestrations,
        Math.min(maxConcurrency, units.length),
        `maxConcurrency ${maxConcurrency}`,
      );
      const episodes = named(run, BACKFILL_UNIT_ORCHESTRATOR).map((call) => call.episode);
      const waveSizes = [...new Set(episodes)].map((episode) => episodes.filter((e) => e === episode).length);
      assert.ok(
        waveSizes.every((size) => size <= maxConcurrency),
        JSON.stringify(waveSizes),
      );
    }
  });

  it('batches loads: one MERGE per batch of staged units, at most a year each, as soon as a batch is staged', async () => {
    const run = await runBackfill(
      {
        dataset: CROSSINGS,
        window: range,
        mode: 'all',
        maxConcurrency: 4,
        plan: planUnits(CROSSINGS, [range], FIVE_WEEK_UNITS),
      },
      scenario(CROSSINGS),
    );
    const loads = named(run, LOAD_WINDOWS);
    assert.equal(loads.length, 2);
    const [first, second] = loads.map((call) => call.input as LoadWindowsInput);
    assert.deepEqual(first?.window, { start: units[0]?.start, stop: units[9]?.stop });
    assert.deepEqual(
      first?.windows,
      units.slice(0, 10).flatMap((unit) => stageOutput(CROSSINGS, unit).chunks),
    );
    assert.deepEqual(second?.window, { start: units[10]?.start, stop: range.stop });
    assert.equal(first?.instanceId, BACKFILL_ID);
    // The first batch (units 0–9) loads after the third wave (units 8–11), before the fourth starts.
    const unitEpisodes = named(run, BACKFILL_UNIT_ORCHESTRATOR).map((call) => call.episode);
    assert.ok((loads[0]?.episode ?? 0) > (unitEpisodes[11] ?? Infinity));
    assert.ok((loads[0]?.episode ?? Infinity) < (unitEpisodes[12] ?? 0));
  });

  it('verifies each unit and writes exactly one summary line per unit', async () => {
    const run = await runBackfill(
      {
        dataset: CROSSINGS,
        window: range,
        mode: 'all',
        maxConcurrency: 4,
        plan: planUnits(CROSSINGS, [range], FIVE_WEEK_UNITS),
      },
      scenario(CROSSINGS),
    );
    assert.deepEqual(
      named(run, VERIFY_WINDOW).map((call) => call.input.instanceId),
      units.map((unit) => unitInstanceId(BACKFILL_ID, unit)),
    );
    const runs = reported(run);
    assert.deepEqual(
      runs.map((summary) => summary.instanceId),
      units.map((unit) => unitInstanceId(BACKFILL_ID, unit)),
    );
    assert.ok(runs.every((summary) => summary.status === 'completed' && summary.durationMs > 0));
    assert.equal(run.output.status, 'completed');
    assert.deepEqual(run.output.counts, { units: 16, completed: 16, stale: 0, failed: 0 });
    assert.equal(run.customStatuses.at(-1)?.step, 'done');
  });

  it('carries on past a failing unit: the others load, the failed one gets a failed summary', async () => {
    const broken = units[5] as Window;
    const run = await runBackfill(
      {
        dataset: CROSSINGS,
        window: range,
        mode: 'all',
        maxConcurrency: 4,
        plan: planUnits(CROSSINGS, [range], FIVE_WEEK_UNITS),
      },
      scenario(CROSSINGS, {
        [STAGE_WINDOW]: (input: { window: Window }) =>
          input.window.start === broken.start
            ? { ok: false, error: { kind: 'terminal', message: 'paging returned 12 rows more than counted' } }
            : ok(stageOutput(CROSSINGS, input.window)),
      }),
    );
    assert.equal(run.runtimeStatus, 'Completed');
    const brokenChild = run.children.get(unitInstanceId(BACKFILL_ID, broken));
    assert.equal(brokenChild?.runtimeStatus, 'Completed', 'a unit never throws');
    assert.deepEqual(brokenChild?.output, {
      ok: false,
      error: { kind: 'terminal', message: 'paging returned 12 rows more than counted' },
    });
    const loaded = named(run, LOAD_WINDOWS).flatMap((call) => (call.input as LoadWindowsInput).windows);
    assert.ok(!loaded.some((chunk) => chunk.start >= broken.start && chunk.stop <= broken.stop));
    assert.equal(named(run, VERIFY_WINDOW).length, 15);
    const failed = reported(run).filter((summary) => summary.status === 'failed');
    assert.deepEqual(
      failed.map((summary) => [summary.instanceId, summary.error?.kind]),
      [[unitInstanceId(BACKFILL_ID, broken), 'terminal']],
    );
    assert.equal(run.output.status, 'partial');
    assert.deepEqual(run.customStatuses.at(-1)?.units, {
      total: 16,
      pending: 0,
      staging: 0,
      staged: 0,
      loaded: 0,
      completed: 15,
      stale: 0,
      failed: 1,
    });
    assert.equal(run.customStatuses.at(-1)?.failures[0]?.unit, `${broken.start}_${broken.stop}`);
    assert.equal(run.customStatuses.at(-1)?.failures[0]?.step, 'stage');
  });

  it('retries a unit’s transient stage failure inside the unit', async () => {
    const run = await runBackfill(
      {
        dataset: CROSSINGS,
        window: { start: '2024-01-01', stop: '2024-02-05' },
        mode: 'all',
        maxConcurrency: 4,
        plan: planUnits(CROSSINGS, [{ start: '2024-01-01', stop: '2024-02-05' }], FIVE_WEEK_UNITS),
      },
      scenario(CROSSINGS, {
        [STAGE_WINDOW]: (input: { window: Window }, attempt: number) => {
          if (attempt === 1) throw new Error('HTTP 429');
          return ok(stageOutput(CROSSINGS, input.window));
        },
      }),
    );
    assert.deepEqual(
      unitStages(run).map((call) => call.attempt),
      [1, 2],
    );
    assert.equal(run.output.status, 'completed');
  });

  it('keeps the other units of a wave when the runtime fails one sub-orchestration (Task.all fails fast)', async () => {
    const refused = unitInstanceId(BACKFILL_ID, units[1] as Window);
    const run = await runBackfill(
      {
        dataset: CROSSINGS,
        window: range,
        mode: 'all',
        maxConcurrency: 4,
        plan: planUnits(CROSSINGS, [range], FIVE_WEEK_UNITS),
      },
      scenario(CROSSINGS, {}, { failSubOrchestration: (id) => (id === refused ? 'instance id in use' : undefined) }),
    );
    assert.equal(run.runtimeStatus, 'Completed');
    assert.deepEqual(run.output.counts, { units: 16, completed: 15, stale: 0, failed: 1 });
    assert.deepEqual(
      run.output.failures.map((failure: { start: string; step: string }) => [failure.start, failure.step]),
      [[units[1]?.start, 'stage']],
    );
    assert.match(run.output.failures[0].message, /instance id in use/);
  });

  it('fails the units of a batch whose MERGE failed, and loads the other batch', async () => {
    const run = await runBackfill(
      {
        dataset: CROSSINGS,
        window: range,
        mode: 'all',
        maxConcurrency: 4,
        plan: planUnits(CROSSINGS, [range], FIVE_WEEK_UNITS),
      },
      scenario(CROSSINGS, {
        [LOAD_WINDOWS]: (input: LoadWindowsInput) =>
          input.window.start === range.start
            ? { ok: false, error: { kind: 'terminal', message: 'MERGE conflict' } }
            : ok({}),
      }),
    );
    assert.deepEqual(run.output.counts, { units: 16, completed: 6, stale: 0, failed: 10 });
    assert.equal(named(run, VERIFY_WINDOW).length, 6);
    assert.ok(
      reported(run)
        .slice(0, 10)
        .every((summary) => summary.status === 'failed' && summary.error?.message === 'MERGE conflict'),
    );
  });

  it('marks units with nothing in a frozen source as stale', async () => {
    const run = await runBackfill(
      {
        dataset: TRAFFIC,
        window: { start: '2025-05-01', stop: '2025-06-01' },
        mode: 'all',
        maxConcurrency: 4,
        plan: planUnits(TRAFFIC, [{ start: '2025-05-01', stop: '2025-06-01' }]),
      },
      scenario(TRAFFIC, {
        [STAGE_WINDOW]: (input: { window: Window }) => ok(stageOutput(TRAFFIC, input.window, 0)),
        [VERIFY_WINDOW]: () => verified(0, '2025-04-12T00:00:00.000'),
      }),
    );
    assert.equal(named(run, LOAD_WINDOWS).length, 0);
    assert.deepEqual(
      reported(run).map((summary) => summary.status),
      ['stale'],
    );
    assert.deepEqual(run.output.counts, { units: 1, completed: 0, stale: 1, failed: 0 });
  });

  it('loads the full traffic history in 3 MERGEs from 3 units of about 20 pages each', async () => {
    const history = { start: '2010-01-01', stop: '2025-06-01' };
    const run = await runBackfill(
      { dataset: TRAFFIC, window: history, mode: 'all', maxConcurrency: 4, plan: planUnits(TRAFFIC, [history]) },
      scenario(TRAFFIC),
    );
    assert.equal(named(run, BACKFILL_UNIT_ORCHESTRATOR).length, 3);
    assert.equal(named(run, LOAD_WINDOWS).length, 3);
    const requests = [...run.children.values()].reduce(
      (sum, child) => sum + (child.output.value.requests as number),
      0,
    );
    assert.ok(requests <= 60, `${requests} source requests`);
  });
});

describe('backfill modes', () => {
  const range = { start: '2024-01-07', stop: '2024-12-29' };

  it('missing: asks findMissing once for the range, continues as new with the plan as input, backfills only those parts', async () => {
    const missing = [
      { start: '2024-02-04', stop: '2024-02-18' },
      { start: '2024-06-02', stop: '2024-08-11' },
    ];
    const run = await runBackfill(
      { dataset: CROSSINGS, window: range, mode: 'missing', maxConcurrency: 4 },
      scenario(CROSSINGS, { [PLAN_MISSING]: () => ok({ missing, ...planUnits(CROSSINGS, missing, FIVE_WEEK_UNITS) }) }),
    );
    const [planning] = run.continuedFrom;
    assert.deepEqual(
      planning?.calls.map((call) => [call.name, call.input]),
      [[PLAN_MISSING, { instanceId: BACKFILL_ID, dataset: CROSSINGS, window: range }]],
    );
    assert.equal(planning?.customStatuses[0] && (planning.customStatuses[0] as { step: string }).step, 'find-missing');
    assert.deepEqual(run.input, {
      dataset: CROSSINGS,
      window: range,
      mode: 'missing',
      maxConcurrency: 4,
      plan: planUnits(CROSSINGS, missing, FIVE_WEEK_UNITS),
    });
    assert.equal(named(run, PLAN_MISSING).length, 0, 'the plan is never asked for again');
    assert.deepEqual(
      named(run, BACKFILL_UNIT_ORCHESTRATOR).map((call) => call.input.window),
      splitUnits(CROSSINGS, missing, FIVE_WEEK_UNITS),
    );
    assert.equal(run.output.counts.units, 3);
  });

  it('missing: with nothing missing, starts no unit and says so', async () => {
    const run = await runBackfill(
      { dataset: CROSSINGS, window: range, mode: 'missing', maxConcurrency: 4 },
      scenario(CROSSINGS),
    );
    assert.equal(named(run, BACKFILL_UNIT_ORCHESTRATOR).length, 0);
    assert.equal(run.output.status, 'nothing-to-do');
  });

  it('missing: fails the backfill when the table cannot be asked', async () => {
    const run = await runBackfill(
      { dataset: CROSSINGS, window: range, mode: 'missing', maxConcurrency: 4 },
      scenario(CROSSINGS, {
        [PLAN_MISSING]: () => ({
          ok: false,
          error: { kind: 'input', field: 'BLOCK_LAKEHOUSE_TABLE', message: 'no such block' },
        }),
      }),
    );
    assert.equal(run.runtimeStatus, 'Failed');
    assert.equal(run.customStatuses.at(-1)?.error?.step, 'find-missing');
    assert.equal(named(run, BACKFILL_UNIT_ORCHESTRATOR).length, 0);
  });

  it('failed: runs exactly the units the starter found failed', async () => {
    const failed = [
      { start: '2024-02-11', stop: '2024-03-17' },
      { start: '2024-09-01', stop: '2024-10-06' },
    ];
    const run = await runBackfill(
      {
        dataset: CROSSINGS,
        window: range,
        mode: 'failed',
        maxConcurrency: 4,
        plan: planUnits(CROSSINGS, failed, FIVE_WEEK_UNITS),
      },
      scenario(CROSSINGS, { [PLAN_MISSING]: () => assert.fail('the failed mode does not look for missing weeks') }),
    );
    assert.deepEqual(
      named(run, BACKFILL_UNIT_ORCHESTRATOR).map((call) => call.instanceId),
      failed.map((unit) => unitInstanceId(BACKFILL_ID, unit)),
    );
    assert.equal(named(run, LOAD_WINDOWS).length, 2, 'not adjacent: two MERGEs');
    assert.equal(run.output.counts.completed, 2);
  });
});
