/**
 * CONTRACT STUB (being implemented on main): the Functions app's way into a run. Targets come from app
 * settings through the same wiring as the CLI; one credential and one block reader per process.
 */
import type { StepPorts } from '../pipeline/steps';

export async function withAppRun<T>(
  _log: (message: string) => void,
  _work: (ports: StepPorts) => Promise<T>,
): Promise<T> {
  throw new Error('not implemented yet');
}
