import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler, Task } from 'durable-functions';
import type { ErrorSummary } from '../common/errors';
import type { LoadOutput, ReportedRun, StageOutput, VerifyOutput } from '../pipeline/steps';
import { type RunFinished, isStale } from '../pipeline/summary';
import type { RunCounts, WindowCustomStatus, WindowRunInput, WindowRunOutput, WindowStep } from '../schedule/messages';
import { LOAD_WINDOWS, STAGE_WINDOW, VERIFY_WINDOW } from './activities';
import { callStep, elapsedMs, reportRuns } from './shared/orchestration';

export const WINDOW_ORCHESTRATOR = 'windowOrchestrator';

/**
 * One window, the original flow's graph: stage (fetch, check, stage) → load (ensure table, MERGE) → verify
 * (rows in the table versus staged; the source's newest date when nothing came back). A window that loads
 * nothing from a source with nothing that new completes as `stale`: the original dataset is frozen.
 */
export const windowOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { dataset, window } = context.df.getInput<WindowRunInput>();
  const run = { instanceId: context.df.instanceId, dataset, window };
  const startedAt = context.df.currentUtcDateTime.getTime();
  let counts: RunCounts = {};
  /** What the summary line adds from the stage step's output: the quarantine limit, the fields no record carried. */
  const staging: { maxQuarantinePercent?: number; missingFields?: readonly string[] } = {};
  const showStep = (step: WindowStep, error?: WindowCustomStatus['error']): void =>
    context.df.setCustomStatus({ step, counts, ...(error ? { error } : {}) } satisfies WindowCustomStatus);

  function* fail(step: WindowStep, error: ErrorSummary): Generator<Task, never, unknown> {
    showStep('failed', { step, ...error });
    const summary: ReportedRun = {
      ...summaryBase(),
      status: 'failed',
      durationMs: elapsedMs(context, startedAt),
      error: { kind: error.kind, message: error.message },
      finishedAt: context.df.currentUtcDateTime.toISOString(),
    };
    yield* reportRuns(context, { ...run, runs: [summary] });
    // Failing the orchestration (not just returning) makes its runtime status Failed, so the timer reruns it.
    throw new Error(`${step} failed (${error.kind}): ${error.message}`);
  }

  function summaryBase(): Omit<RunFinished, 'status' | 'durationMs'> {
    return {
      dataset,
      start: window.start,
      stop: window.stop,
      instanceId: run.instanceId,
      fetched: counts.fetched ?? 0,
      staged: counts.staged ?? 0,
      quarantined: counts.quarantined ?? 0,
      rowsInWindow: counts.rowsInWindow ?? 0,
      newestInSource: null,
      maxQuarantinePercent: staging.maxQuarantinePercent ?? null,
      missingFields: staging.missingFields ?? [],
    };
  }

  showStep('stage');
  const staged = yield* callStep<StageOutput>(context, STAGE_WINDOW, run);
  if (!staged.ok) return yield* fail('stage', staged.error);
  const { fetched, quarantined, chunks } = staged.value;
  counts = { fetched, staged: staged.value.staged, quarantined };
  staging.maxQuarantinePercent = staged.value.maxQuarantinePercent;
  staging.missingFields = staged.value.missingFields;

  if (chunks.length > 0) {
    showStep('load');
    const loaded = yield* callStep<LoadOutput>(context, LOAD_WINDOWS, { ...run, windows: chunks });
    if (!loaded.ok) return yield* fail('load', loaded.error);
  }

  showStep('verify');
  const verified = yield* callStep<VerifyOutput>(context, VERIFY_WINDOW, { ...run, staged: staged.value.staged });
  if (!verified.ok) return yield* fail('verify', verified.error);
  const { rowsInWindow, newestInSource } = verified.value;
  counts = { ...counts, rowsInWindow };

  const stale = isStale(window, staged.value.staged, newestInSource);
  const summary: ReportedRun = {
    ...summaryBase(),
    newestInSource,
    status: stale ? 'stale' : 'completed',
    durationMs: elapsedMs(context, startedAt),
    finishedAt: context.df.currentUtcDateTime.toISOString(),
  };
  showStep('report');
  yield* reportRuns(context, { ...run, runs: [summary] });
  showStep('done');
  const output: WindowRunOutput = stale
    ? {
        ...summary,
        warning: `stale source: nothing for the window, and its newest date is ${newestInSource ?? 'unknown'}`,
      }
    : summary;
  return output;
};

df.app.orchestration(WINDOW_ORCHESTRATOR, windowOrchestrator);
