import type { InvocationContext } from '@azure/functions';
import type { StepPorts } from '../../pipeline/steps';
import type { Window } from '../../pipeline/window';
import { withAppRun } from '../../run/app';
import { runLogger } from '../../schedule/log';
import { type StepOutcome, stepOutcome } from '../../schedule/outcome';

/**
 * The body of every pipeline activity: open the run's targets from app settings, call the step with a log
 * whose lines carry dataset, window and instance id, and turn its error into an outcome (only transient
 * errors are thrown, for Durable to retry).
 */
export function runStepActivity<T>(
  context: InvocationContext,
  run: { readonly dataset: string; readonly window: Window; readonly instanceId: string },
  step: (ports: StepPorts) => Promise<T>,
): Promise<StepOutcome<T>> {
  const log = runLogger((message) => context.log(message), run);
  return stepOutcome(() => withAppRun(run.dataset, log, step));
}
