/**
 * CONTRACT STUB (being implemented on main): the Functions app's way into a run. Targets come from app
 * settings through the same wiring as the CLI; one credential and one block reader per process.
 */
import type { StepPorts } from '../pipeline/steps';
import type { Window } from '../pipeline/window';

export async function withAppRun<T>(
  _log: (message: string) => void,
  _work: (ports: StepPorts) => Promise<T>,
): Promise<T> {
  throw new Error('not implemented yet');
}

/**
 * CONTRACT STUB (the lead implements it): the exact SQL statements the loads of these batches of unit windows
 * would run on the configured warehouse (one MERGE per batch over the batch's units), for a backfill dry run.
 */
export async function planAppLoads(_input: {
  dataset: string;
  batches: readonly (readonly Window[])[];
}): Promise<readonly string[]> {
  throw new Error('not implemented yet');
}
