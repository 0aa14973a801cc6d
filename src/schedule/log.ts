import { type Window, windowKey } from '../pipeline/window';

/** `[bnt-hourly-traffic 2024-01-07_2024-01-14 <instanceId>]`: what every log line of a run starts with. */
export function runLabel(dataset: string, window: Window, instanceId: string): string {
  return `[${dataset} ${windowKey(window)} ${instanceId}]`;
}

/** A log function whose lines all carry the run's dataset, window and instance id, so a portal query finds them. */
export function runLogger(
  log: (message: string) => void,
  run: { readonly dataset: string; readonly window: Window; readonly instanceId: string },
): (message: string) => void {
  const label = runLabel(run.dataset, run.window, run.instanceId);
  return (message) => log(`${label} ${message}`);
}
