import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import type { StageOutput } from '../pipeline/steps';
import type { UnitRunInput, WindowCustomStatus } from '../schedule/messages';
import { STAGE_WINDOW } from './activities';
import { callStep } from './shared/orchestration';

export const BACKFILL_UNIT_ORCHESTRATOR = 'backfillUnitOrchestrator';

/**
 * Stages one backfill unit under its own instance id (its backfill's id and the unit window: a child id
 * belongs to one parent). It never throws: the parent waits on a wave with `Task.all`, which fails fast, so a failed
 * unit returns `{ ok: false, error }` and the others carry on. Loading and verifying are the parent's, batched.
 */
export const backfillUnitOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { dataset, window } = context.df.getInput<UnitRunInput>();
  context.df.setCustomStatus({ step: 'stage', counts: {} } satisfies WindowCustomStatus);
  const staged = yield* callStep<StageOutput>(context, STAGE_WINDOW, {
    instanceId: context.df.instanceId,
    dataset,
    window,
  });
  const status: WindowCustomStatus = staged.ok
    ? {
        step: 'done',
        counts: { fetched: staged.value.fetched, staged: staged.value.staged, quarantined: staged.value.quarantined },
      }
    : { step: 'failed', counts: {}, error: { step: 'stage', ...staged.error } };
  context.df.setCustomStatus(status);
  return staged;
};

df.app.orchestration(BACKFILL_UNIT_ORCHESTRATOR, backfillUnitOrchestrator);
