import * as df from 'durable-functions';
import { type InvocationContext, app } from '@azure/functions';
import {
  type LoadOutput,
  type ReportOutput,
  type StageOutput,
  type VerifyOutput,
  findMissingStep,
  loadWindowsStep,
  reportRunsStep,
  stageWindowStep,
  verifyWindowStep,
} from '../pipeline/steps';
import { stopAppRuns } from '../run/app';
import { planUnits } from '../schedule/backfill-plan';
import type {
  LoadWindowsInput,
  PlanMissingInput,
  PlanMissingOutput,
  ReportRunInput,
  StageWindowInput,
  VerifyWindowInput,
} from '../schedule/messages';
import type { StepOutcome } from '../schedule/outcome';
import { runStepActivity } from './shared/activity';

/** Activities: each a line around a pipeline step; JSON in (names, windows, counts), JSON out. */
export const STAGE_WINDOW = 'stageWindow';
export const LOAD_WINDOWS = 'loadWindows';
export const VERIFY_WINDOW = 'verifyWindow';
export const PLAN_MISSING = 'planMissing';
export const REPORT_RUN = 'reportRun';

export type ActivityName =
  typeof STAGE_WINDOW | typeof LOAD_WINDOWS | typeof VERIFY_WINDOW | typeof PLAN_MISSING | typeof REPORT_RUN;

export function stageWindow(input: StageWindowInput, context: InvocationContext): Promise<StepOutcome<StageOutput>> {
  return runStepActivity(context, input, (ports) =>
    stageWindowStep(ports, { dataset: input.dataset, window: input.window }),
  );
}

export function loadWindows(input: LoadWindowsInput, context: InvocationContext): Promise<StepOutcome<LoadOutput>> {
  return runStepActivity(context, input, (ports) =>
    loadWindowsStep(ports, { dataset: input.dataset, windows: input.windows }),
  );
}

export function verifyWindow(input: VerifyWindowInput, context: InvocationContext): Promise<StepOutcome<VerifyOutput>> {
  return runStepActivity(context, input, (ports) =>
    verifyWindowStep(ports, { dataset: input.dataset, window: input.window, staged: input.staged }),
  );
}

/** A `missing` backfill's first step: the weeks the table lacks, and the plan of units that fills them. */
export function planMissing(
  input: PlanMissingInput,
  context: InvocationContext,
): Promise<StepOutcome<PlanMissingOutput>> {
  return runStepActivity(context, input, async (ports) => {
    const { missing } = await findMissingStep(ports, { dataset: input.dataset, window: input.window });
    return { missing, ...planUnits(input.dataset, missing) };
  });
}

/**
 * Each finished window or unit's run-ledger record, then exactly one `bnt.run.finished` line for it (what the
 * portal's alerts and workbook read): the same step the command line ends a run with.
 */
export function reportRun(input: ReportRunInput, context: InvocationContext): Promise<StepOutcome<ReportOutput>> {
  return runStepActivity(context, input, (ports) =>
    reportRunsStep(ports, input, (run, line) => {
      if (run.status === 'failed') context.error(line);
      else if (run.status === 'stale') context.warn(line);
      else context.log(line);
    }),
  );
}

/**
 * How long a worker that is shutting down waits for its stopped steps to wind down (release their locks, cancel
 * their warehouse statements): less than the grace period the host gives a worker before it is killed.
 */
export const SHUTDOWN_WAIT_MS = 4_000;

/**
 * When the host shuts the worker down gracefully (scale-in, a deploy, a restart), every running step is stopped
 * at once rather than cut off: its requests end, its lock is released and a running Databricks statement is
 * cancelled, so the attempt the host starts elsewhere never overlaps it. The stop is transient: Durable retries.
 */
export async function stopRunningSteps(log: (message: string) => void): Promise<void> {
  const stopped = await stopAppRuns('the Functions worker is shutting down', SHUTDOWN_WAIT_MS);
  if (stopped > 0) log(`the worker is shutting down: stopped ${stopped} running step${stopped === 1 ? '' : 's'}`);
}

app.hook.appTerminate(() => stopRunningSteps((message) => console.warn(message)));

df.app.activity(STAGE_WINDOW, { handler: stageWindow });
df.app.activity(LOAD_WINDOWS, { handler: loadWindows });
df.app.activity(VERIFY_WINDOW, { handler: verifyWindow });
df.app.activity(PLAN_MISSING, { handler: planMissing });
df.app.activity(REPORT_RUN, { handler: reportRun });
