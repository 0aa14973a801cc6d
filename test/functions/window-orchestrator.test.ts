import './support/core-standin';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOAD_WINDOWS, REPORT_RUN, STAGE_WINDOW, VERIFY_WINDOW } from '../../src/functions/activities';
import { STEP_RETRY } from '../../src/functions/shared/orchestration';
import { WINDOW_ORCHESTRATOR, windowOrchestrator } from '../../src/functions/windowOrchestrator';
import type { ReportRunInput } from '../../src/schedule/messages';
import { type ActivityScript, type Run, runOrchestration } from './support/replay';
import { ok, stageOutput, verified } from './support/scripts';

const DATASET = 'bnt-hourly-traffic';
const WEEK = { start: '2026-11-15', stop: '2026-11-22' };
const INSTANCE_ID = 'bnt-hourly-traffic_2026-11-15_2026-11-22';

function runWindow(activities: Partial<Record<string, ActivityScript>>): Promise<Run> {
  return runOrchestration(
    WINDOW_ORCHESTRATOR,
    windowOrchestrator,
    { dataset: DATASET, window: WEEK },
    {
      activities: {
        [STAGE_WINDOW]: () => ok(stageOutput(DATASET, WEEK, 3_360)),
        [LOAD_WINDOWS]: () => ok({ dataset: DATASET, windows: 1, staged: 3_360 }),
        [VERIFY_WINDOW]: () => verified(3_360),
        [REPORT_RUN]: () => ok({ recorded: [] }),
        ...activities,
      } as Record<string, ActivityScript>,
    },
    { instanceId: INSTANCE_ID, start: new Date('2026-11-23T12:00:00Z') },
  );
}

function reported(run: Run): ReportRunInput['runs'] {
  return run.calls.filter((call) => call.name === REPORT_RUN).flatMap((call) => (call.input as ReportRunInput).runs);
}

describe('the window orchestration', () => {
  it('runs stage → load (the staged chunks) → verify → one summary, each activity told the instance id', async () => {
    const run = await runWindow({});
    assert.equal(run.runtimeStatus, 'Completed');
    assert.deepEqual(
      run.calls.map((call) => call.name),
      [STAGE_WINDOW, LOAD_WINDOWS, VERIFY_WINDOW, REPORT_RUN],
    );
    const [stage, load, verify] = run.calls;
    assert.deepEqual(stage?.input, { instanceId: INSTANCE_ID, dataset: DATASET, window: WEEK });
    assert.deepEqual(load?.input, { instanceId: INSTANCE_ID, dataset: DATASET, window: WEEK, windows: [WEEK] });
    assert.deepEqual(verify?.input, { instanceId: INSTANCE_ID, dataset: DATASET, window: WEEK, staged: 3_360 });
    const [summary] = reported(run);
    assert.ok((summary?.durationMs ?? 0) > 0, 'time passes on the orchestration clock');
    assert.deepEqual(reported(run), [
      {
        dataset: DATASET,
        start: WEEK.start,
        stop: WEEK.stop,
        instanceId: INSTANCE_ID,
        fetched: 3_360,
        staged: 3_360,
        quarantined: 0,
        rowsInWindow: 3_360,
        newestInSource: null,
        status: 'completed',
        durationMs: summary?.durationMs,
        maxQuarantinePercent: 1,
        missingFields: [],
        finishedAt: new Date(Date.parse('2026-11-23T12:00:00Z') + (summary?.durationMs ?? 0)).toISOString(),
      },
    ]);
    const report = run.calls.find((call) => call.name === REPORT_RUN);
    assert.deepEqual(
      { ...report?.input, runs: undefined },
      { instanceId: INSTANCE_ID, dataset: DATASET, window: WEEK, runs: undefined },
      'the report step is told which run it reports, for its log lines',
    );
    assert.equal(run.output.status, 'completed');
    assert.equal(run.output.warning, undefined);
  });

  it('shows the step and the counts so far in its custom status', async () => {
    const run = await runWindow({});
    const steps = run.customStatuses.map((status) => status.step);
    assert.deepEqual([...new Set(steps)], ['stage', 'load', 'verify', 'report', 'done']);
    assert.deepEqual(run.customStatuses.find((status) => status.step === 'load')?.counts, {
      fetched: 3_360,
      staged: 3_360,
      quarantined: 0,
    });
    assert.deepEqual(run.customStatuses.at(-1)?.counts, {
      fetched: 3_360,
      staged: 3_360,
      quarantined: 0,
      rowsInWindow: 3_360,
    });
  });

  it('calls every step with its own retries: 60 s first, doubling, as many attempts as its budget allows', async () => {
    const run = await runWindow({});
    for (const call of run.calls) {
      const retry = STEP_RETRY[call.name as keyof typeof STEP_RETRY];
      assert.ok(call.retryOptions, call.name);
      assert.equal(call.retryOptions.firstRetryIntervalInMilliseconds, 60_000, call.name);
      assert.equal(call.retryOptions.maxNumberOfAttempts, retry.attempts, call.name);
      assert.equal(call.retryOptions.backoffCoefficient, 2, call.name);
      assert.equal(call.retryOptions.maxRetryIntervalInMilliseconds, retry.maxRetryMs, call.name);
    }
  });

  it('retries a step that threw (a transient error) and carries on when it succeeds', async () => {
    const run = await runWindow({
      [STAGE_WINDOW]: (_input, attempt) => {
        if (attempt < 3) throw new Error('HTTP 503 from data.ny.gov');
        return ok(stageOutput(DATASET, WEEK, 3_360));
      },
    });
    assert.equal(run.runtimeStatus, 'Completed');
    assert.deepEqual(
      run.calls.filter((call) => call.name === STAGE_WINDOW).map((call) => call.attempt),
      [1, 2, 3],
    );
    assert.equal(reported(run)[0]?.status, 'completed');
  });

  it('fails the run after the last retry, with one failed summary line first', async () => {
    const run = await runWindow({
      [STAGE_WINDOW]: () => {
        throw new Error('HTTP 503 from data.ny.gov');
      },
    });
    assert.equal(run.runtimeStatus, 'Failed');
    assert.equal(run.calls.filter((call) => call.name === STAGE_WINDOW).length, STEP_RETRY[STAGE_WINDOW].attempts);
    assert.ok(!run.calls.some((call) => call.name === LOAD_WINDOWS));
    const [summary, ...others] = reported(run);
    assert.equal(others.length, 0);
    assert.equal(summary?.status, 'failed');
    assert.equal(summary?.error?.kind, 'transient');
    assert.match(summary?.error?.message ?? '', /HTTP 503/);
    assert.match(run.error ?? '', /stage failed \(transient\): .*HTTP 503/);
    assert.deepEqual(run.customStatuses.at(-1)?.error?.step, 'stage');
  });

  it('fails at once, without retrying, when a step returns an input or terminal error', async () => {
    const run = await runWindow({
      [VERIFY_WINDOW]: () => ({
        ok: false,
        error: { kind: 'terminal', message: 'the table holds 3000 rows, 3360 were staged' },
      }),
    });
    assert.equal(run.runtimeStatus, 'Failed');
    assert.equal(run.calls.filter((call) => call.name === VERIFY_WINDOW).length, 1);
    assert.deepEqual(reported(run)[0]?.error, {
      kind: 'terminal',
      message: 'the table holds 3000 rows, 3360 were staged',
    });
    assert.deepEqual(reported(run)[0]?.rowsInWindow, 0);
    assert.deepEqual(run.customStatuses.at(-1), {
      step: 'failed',
      counts: { fetched: 3_360, staged: 3_360, quarantined: 0 },
      error: { step: 'verify', kind: 'terminal', message: 'the table holds 3000 rows, 3360 were staged' },
    });
  });

  it('completes a window with nothing in a frozen source as stale, with a warning', async () => {
    const run = await runWindow({
      [STAGE_WINDOW]: () => ok(stageOutput(DATASET, WEEK, 0)),
      [VERIFY_WINDOW]: () => verified(0, '2025-04-12T00:00:00.000'),
    });
    assert.equal(run.runtimeStatus, 'Completed');
    assert.ok(!run.calls.some((call) => call.name === LOAD_WINDOWS), 'nothing staged, nothing to load');
    assert.equal(run.output.status, 'stale');
    assert.match(run.output.warning, /stale source.*2025-04-12/);
    assert.equal(reported(run)[0]?.status, 'stale');
    assert.equal(reported(run)[0]?.newestInSource, '2025-04-12T00:00:00.000');
  });

  it('does not call an empty window stale when the source has newer rows', async () => {
    const run = await runWindow({
      [STAGE_WINDOW]: () => ok(stageOutput(DATASET, WEEK, 0)),
      [VERIFY_WINDOW]: () => verified(0, '2026-11-28T23:00:00.000'),
    });
    assert.equal(run.output.status, 'completed');
  });
});
