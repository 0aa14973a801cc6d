import * as df from 'durable-functions';
import type { InvocationContext } from '@azure/functions';
import {
  type LoadOutput,
  type StageOutput,
  type VerifyOutput,
  findMissingStep,
  loadWindowsStep,
  stageWindowStep,
  verifyWindowStep,
} from '../pipeline/steps';
import { runFinishedLine } from '../pipeline/summary';
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

/** Exactly one `bnt.run.finished` line per finished window or unit: what the portal's alerts and workbook read. */
export function reportRun(input: ReportRunInput, context: InvocationContext): void {
  for (const run of input.runs) {
    const line = runFinishedLine(run);
    if (run.status === 'failed') context.error(line);
    else if (run.status === 'stale') context.warn(line);
    else context.log(line);
  }
}

df.app.activity(STAGE_WINDOW, { handler: stageWindow });
df.app.activity(LOAD_WINDOWS, { handler: loadWindows });
df.app.activity(VERIFY_WINDOW, { handler: verifyWindow });
df.app.activity(PLAN_MISSING, { handler: planMissing });
df.app.activity(REPORT_RUN, { handler: reportRun });
