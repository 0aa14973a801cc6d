import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler, Task } from 'durable-functions';
import type { StageOutput, VerifyOutput } from '../pipeline/steps';
import type { Window } from '../pipeline/window';
import { type UnitPlan, waves } from '../schedule/backfill-plan';
import { BackfillProgress } from '../schedule/backfill-progress';
import type { BackfillRunInput, PlanMissingOutput, UnitRunInput } from '../schedule/messages';
import type { StepOutcome } from '../schedule/outcome';
import { LOAD_WINDOWS, PLAN_MISSING, VERIFY_WINDOW } from './activities';
import { BACKFILL_UNIT_ORCHESTRATOR } from './backfillUnitOrchestrator';
import { callStep, elapsedMs, reportRuns, settleAll } from './shared/orchestration';

export const BACKFILL_ORCHESTRATOR = 'backfillOrchestrator';

/**
 * A backfill: the plan's units (fixed by the starter, or in `missing` mode by a first activity, after which the
 * orchestration continues as new with the plan in its input), staged as sub-orchestrations at most
 * `maxConcurrency` at once; after each wave every batch whose units are all staged is loaded in one MERGE, then
 * each unit is verified and gets its ledger record and summary line. A unit's failure is recorded and the others
 * carry on. Nothing here computes windows from code constants: replays see the plan as data.
 */
export const backfillOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<BackfillRunInput>();
  const { dataset, window, mode } = input;
  const instanceId = context.df.instanceId;
  const startedAt = context.df.currentUtcDateTime.getTime();

  if (input.plan === undefined) {
    // A `missing` backfill plans its units first, then starts over with the plan as its input, as the other modes
    // have it: the status endpoint, terminate and every replay read the units from there.
    const planned: BackfillRunInput = { ...input, plan: yield* planMissingUnits(context, input) };
    context.df.continueAsNew(planned);
    return undefined;
  }
  const plan = input.plan;
  const unitWaves = waves(
    plan.units.map((_, index) => index),
    input.maxConcurrency,
  );
  const progress = new BackfillProgress(dataset, window, mode, instanceId, plan, unitWaves.length);

  function* loadVerifyAndReport(batch: number): Generator<Task, void, unknown> {
    const load = progress.loadInput(batch, instanceId);
    if (load) {
      context.df.setCustomStatus(progress.customStatus('load'));
      progress.recordLoad(batch, yield* callStep(context, LOAD_WINDOWS, load));
    }
    for (const index of progress.unitsToVerify(batch)) {
      context.df.setCustomStatus(progress.customStatus('verify'));
      progress.recordVerify(index, yield* callStep<VerifyOutput>(context, VERIFY_WINDOW, progress.verifyInput(index)));
    }
    const runs = progress.finishBatch(batch, context.df.currentUtcDateTime);
    yield* reportRuns(context, { instanceId, dataset, window: load?.window ?? spanOf(runs), runs });
  }

  for (const wave of unitWaves) {
    progress.startWave(wave, context.df.currentUtcDateTime);
    context.df.setCustomStatus(progress.customStatus('stage'));
    const tasks = wave.map((index) => {
      const unit = progress.unit(index);
      const unitInput: UnitRunInput = { dataset, window: unit.window, backfillInstanceId: instanceId };
      return context.df.callSubOrchestrator(BACKFILL_UNIT_ORCHESTRATOR, unitInput, unit.instanceId);
    });
    const outcomes = yield* settleAll<StepOutcome<StageOutput>>(context, tasks);
    wave.forEach((index, position) => {
      const outcome = outcomes[position];
      if (outcome) progress.recordStage(index, outcome.ok ? outcome.value : outcome);
    });
    for (let batch = progress.nextReadyBatch(); batch !== undefined; batch = progress.nextReadyBatch()) {
      yield* loadVerifyAndReport(batch);
    }
  }

  context.df.setCustomStatus(progress.customStatus('done'));
  return progress.output(elapsedMs(context, startedAt));
};

/** In `missing` mode: the weeks of the range with no rows in the table, and their units, from one activity. */
function* planMissingUnits(context: OrchestrationContext, input: BackfillRunInput): Generator<Task, UnitPlan, unknown> {
  const empty = new BackfillProgress(input.dataset, input.window, input.mode, context.df.instanceId, NO_UNITS, 0);
  context.df.setCustomStatus(empty.customStatus('find-missing'));
  const found = yield* callStep<PlanMissingOutput>(context, PLAN_MISSING, {
    instanceId: context.df.instanceId,
    dataset: input.dataset,
    window: input.window,
  });
  if (found.ok) return { units: found.value.units, batches: found.value.batches };
  context.df.setCustomStatus(empty.customStatus('failed', { step: 'find-missing', ...found.error }));
  throw new Error(`find-missing failed (${found.error.kind}): ${found.error.message}`);
}

const NO_UNITS: UnitPlan = { units: [], batches: [] };

function spanOf(runs: readonly { readonly start: string; readonly stop: string }[]): Window {
  return { start: runs[0]?.start ?? '', stop: runs.at(-1)?.stop ?? '' };
}

df.app.orchestration(BACKFILL_ORCHESTRATOR, backfillOrchestrator);
