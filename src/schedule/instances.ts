import { type Window, windowKey } from '../pipeline/window';

/**
 * Instance ids derive from what a run does, so asking twice for the same work finds the first run instead of
 * starting a second one. Dataset names never contain `_` (see DATASET_NAME), so the parts split back apart:
 *
 *   bnt-hourly-traffic_2026-11-15_2026-11-22                        a weekly window
 *   bnt-hourly-traffic_backfill-all_2010-01-01_2025-06-01           a backfill: dataset, range and mode
 *   bnt-hourly-traffic_backfill-all_2010-01-01_2025-06-01_unit_2010-01-01_2011-02-18
 *                                                                   one unit of that backfill
 *
 * A unit's id starts with its backfill's id, so no two backfills ever share a child id: the task hub does not
 * de-duplicate sub-orchestration starts, and a second parent starting a running child's id would overwrite it,
 * leaving the first parent waiting forever.
 */
export const BACKFILL_MODES = ['all', 'missing', 'failed'] as const;
export type BackfillMode = (typeof BACKFILL_MODES)[number];

export type RunKind = 'window' | 'unit' | 'backfill';

export function windowInstanceId(dataset: string, window: Window): string {
  return `${dataset}_${windowKey(window)}`;
}

export function unitInstanceId(backfillInstanceId: string, unit: Window): string {
  return `${backfillInstanceId}_unit_${windowKey(unit)}`;
}

export function backfillInstanceId(dataset: string, range: Window, mode: BackfillMode): string {
  return `${dataset}_backfill-${mode}_${windowKey(range)}`;
}

export interface ParsedInstanceId {
  readonly kind: RunKind;
  readonly dataset: string;
  /** The window, the backfill's range, or the unit's window. */
  readonly window: Window;
  /** Backfills and their units. */
  readonly mode?: BackfillMode;
  /** Units only: the backfill they belong to. */
  readonly backfill?: { readonly instanceId: string; readonly window: Window };
}

const DATE = '(\\d{4}-\\d{2}-\\d{2})';
const ID = new RegExp(
  `^([a-z0-9][a-z0-9-]*)_(?:backfill-(all|missing|failed)_)?${DATE}_${DATE}(?:_unit_${DATE}_${DATE})?$`,
);

/** What an id of ours says about its run; undefined for ids this app did not make. */
export function parseInstanceId(instanceId: string): ParsedInstanceId | undefined {
  const match = ID.exec(instanceId);
  if (!match) return undefined;
  const [, dataset = '', mode, start = '', stop = '', unitStart, unitStop] = match;
  const window = { start, stop };
  if (mode === undefined) return unitStart === undefined ? { kind: 'window', dataset, window } : undefined;
  if (unitStart === undefined || unitStop === undefined) {
    return { kind: 'backfill', dataset, window, mode: mode as BackfillMode };
  }
  return {
    kind: 'unit',
    dataset,
    window: { start: unitStart, stop: unitStop },
    mode: mode as BackfillMode,
    backfill: { instanceId: instanceId.slice(0, instanceId.lastIndexOf('_unit_')), window },
  };
}

/** Ids a status request may name: ours, or Durable's GUIDs. Nothing that could change the status URL's path. */
export const INSTANCE_ID_PATTERN = /^[A-Za-z0-9_-]{1,160}$/;

/** Durable's runtime statuses, as its status API spells them. */
export const RUNTIME_STATUSES = [
  'Running',
  'Completed',
  'ContinuedAsNew',
  'Failed',
  'Canceled',
  'Terminated',
  'Pending',
  'Suspended',
] as const;
export type RuntimeStatus = (typeof RUNTIME_STATUSES)[number];

/** States in which the task hub refuses a new start for the same id (`NonRunningStates`). */
export const ACTIVE_STATUSES: readonly RuntimeStatus[] = ['Running', 'Pending', 'ContinuedAsNew', 'Suspended'];
/** States an instance never leaves: what a purge may remove. */
export const FINISHED_STATUSES: readonly RuntimeStatus[] = ['Completed', 'Failed', 'Terminated', 'Canceled'];
const ACTIVE: ReadonlySet<string> = new Set(ACTIVE_STATUSES);

export function isActive(runtimeStatus: string): boolean {
  return ACTIVE.has(runtimeStatus);
}

/** Whether two half-open windows share a day. */
export function windowsOverlap(a: Window, b: Window): boolean {
  return a.start < b.stop && b.start < a.stop;
}

export type StartDecision =
  { readonly start: true; readonly reason: string } | { readonly start: false; readonly reason: string };

/**
 * Whether to start an instance id given its current runtime status (undefined: no such instance). Active runs
 * are never started twice. A completed run is started again only where the caller asks for a rerun (a
 * backfill request); the timer leaves a completed week alone.
 */
export function startDecision(runtimeStatus: string | undefined, rerunCompleted: boolean): StartDecision {
  if (runtimeStatus === undefined) return { start: true, reason: 'no earlier run' };
  if (isActive(runtimeStatus)) return { start: false, reason: `already ${runtimeStatus.toLowerCase()}` };
  if (runtimeStatus === 'Completed' && !rerunCompleted) return { start: false, reason: 'already completed' };
  return { start: true, reason: `the last run is ${runtimeStatus.toLowerCase()}` };
}
