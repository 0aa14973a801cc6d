import type { Window } from '../pipeline/window';
import {
  type BackfillMode,
  type RunKind,
  endedWithoutFinishing,
  isActive,
  parseInstanceId,
  unitInstanceId,
} from './instances';
import type { RunCounts, UnitStatus } from './messages';

/**
 * Turning Durable's instance status into our answers. Durable's status objects are read as plain data (its
 * list call even returns dates as strings), so every field is checked before it is trusted.
 */
export interface InstanceStatus {
  readonly instanceId: string;
  readonly name: string;
  readonly runtimeStatus: string;
  readonly createdTime: Date | string;
  readonly lastUpdatedTime: Date | string;
  readonly input?: unknown;
  readonly output?: unknown;
  readonly customStatus?: unknown;
}

export interface UnitAnswer {
  readonly start: string;
  readonly stop: string;
  readonly instanceId: string;
  readonly status: string;
}

export interface RunListEntry {
  readonly instanceId: string;
  readonly kind: RunKind | 'other';
  readonly orchestration: string;
  readonly runtimeStatus: string;
  readonly dataset: string | null;
  readonly window: Window | null;
  readonly mode?: BackfillMode;
  readonly createdTime: string;
  readonly lastUpdatedTime: string;
}

export interface RunAnswer extends RunListEntry {
  /** The step the run is in (or failed in), from its custom status; `done` once completed. */
  readonly step: string | null;
  readonly counts: RunCounts | null;
  /** The orchestration's output once it completed. */
  readonly result: unknown;
  readonly error: { readonly message: string; readonly step?: string; readonly kind?: string } | null;
  /** Backfills only: every unit and where it is. */
  readonly units?: readonly UnitAnswer[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isoTime(value: Date | string): string {
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toISOString();
}

function asWindow(value: unknown): Window | null {
  return isRecord(value) && typeof value.start === 'string' && typeof value.stop === 'string'
    ? { start: value.start, stop: value.stop }
    : null;
}

/** A short entry for lists: everything here comes from the id and the status row, not from inputs or outputs. */
export function listEntry(status: InstanceStatus): RunListEntry {
  const parsed = parseInstanceId(status.instanceId);
  return {
    instanceId: status.instanceId,
    kind: parsed?.kind ?? 'other',
    orchestration: status.name,
    runtimeStatus: String(status.runtimeStatus),
    dataset: parsed?.dataset ?? null,
    window: parsed?.window ?? null,
    ...(parsed?.mode ? { mode: parsed.mode } : {}),
    createdTime: isoTime(status.createdTime),
    lastUpdatedTime: isoTime(status.lastUpdatedTime),
  };
}

export function describeRun(status: InstanceStatus): RunAnswer {
  const entry = listEntry(status);
  const input = isRecord(status.input) ? status.input : {};
  const custom = isRecord(status.customStatus) ? status.customStatus : {};
  const output = status.output;
  const completed = status.runtimeStatus === 'Completed';
  const answer: RunAnswer = {
    ...entry,
    dataset: typeof input.dataset === 'string' ? input.dataset : entry.dataset,
    window: asWindow(input.window) ?? entry.window,
    step: completed ? 'done' : typeof custom.step === 'string' ? custom.step : null,
    counts: countsOf(completed && isRecord(output) ? output : custom.counts),
    result: completed ? (output ?? null) : null,
    error: errorOf(status, custom),
  };
  return entry.kind === 'backfill' ? { ...answer, units: unitsOf(status) } : answer;
}

function countsOf(source: unknown): RunCounts | null {
  if (!isRecord(source)) return null;
  const counts: Record<string, number> = {};
  for (const key of ['fetched', 'staged', 'quarantined', 'rowsInWindow'] as const) {
    const value = source[key];
    if (typeof value === 'number') counts[key] = value;
  }
  return Object.keys(counts).length > 0 ? counts : null;
}

function errorOf(status: InstanceStatus, custom: Record<string, unknown>): RunAnswer['error'] {
  const recorded = custom.error;
  if (isRecord(recorded) && typeof recorded.message === 'string') {
    return {
      message: recorded.message,
      ...(typeof recorded.step === 'string' ? { step: recorded.step } : {}),
      ...(typeof recorded.kind === 'string' ? { kind: recorded.kind } : {}),
    };
  }
  // A run that failed outside our own handling (the runtime's message is its output).
  if (status.runtimeStatus === 'Failed') {
    return { message: typeof status.output === 'string' ? status.output : 'the orchestration failed' };
  }
  return null;
}

/**
 * Each unit of a backfill and where it is: from its output once completed, else from the plan in its input
 * (`pending` until a unit's own status is looked up; `unitStates` says where the unit instances are).
 */
export function unitsOf(status: InstanceStatus): UnitAnswer[] {
  if (isRecord(status.output) && Array.isArray(status.output.units)) {
    return status.output.units.filter(isRecord).flatMap((unit) => {
      const window = asWindow(unit);
      if (!window || typeof unit.status !== 'string') return [];
      return [{ ...window, instanceId: unitInstanceId(status.instanceId, window), status: unit.status }];
    });
  }
  return plannedUnits(status).map((window) => ({
    ...window,
    instanceId: unitInstanceId(status.instanceId, window),
    status: 'pending',
  }));
}

/** The unit windows a backfill's input planned; none when it planned them itself (the `missing` mode). */
export function plannedUnits(status: Pick<InstanceStatus, 'input'>): Window[] {
  const input = isRecord(status.input) ? status.input : {};
  const plan = isRecord(input.plan) ? input.plan : {};
  return Array.isArray(plan.units) ? plan.units.flatMap((unit) => asWindow(unit) ?? []) : [];
}

/** Where a running backfill's unit is, from its own instance (undefined: not started yet). */
export function unitStateOf(run: Pick<InstanceStatus, 'runtimeStatus' | 'output'> | undefined): UnitStatus {
  if (run === undefined) return 'pending';
  if (isActive(run.runtimeStatus)) return 'staging';
  if (run.runtimeStatus === 'Completed' && isRecord(run.output) && run.output.ok === true) return 'staged';
  return 'failed';
}

const FINISHED_WELL: ReadonlySet<string> = new Set<UnitStatus>(['completed', 'stale']);

/**
 * The units to redo after a backfill: those it recorded as failed. A backfill that ended without finishing
 * (failed, terminated) has no output: then every unit of its plan is redone, since none is known loaded.
 */
export function unitsRecordedFailed(backfill: InstanceStatus | undefined): Window[] {
  if (backfill === undefined) return [];
  if (endedWithoutFinishing(backfill.runtimeStatus)) return plannedUnits(backfill);
  return unitsOf(backfill)
    .filter((unit) => !FINISHED_WELL.has(unit.status))
    .map(({ start, stop }) => ({ start, stop }));
}

/** The units to redo for a range: what its most recently updated backfill left undone. */
export function unitsToRedo(backfills: readonly (InstanceStatus | undefined)[]): Window[] {
  return distinctWindows(unitsRecordedFailed(latestOf(backfills)));
}

/** The most recently updated of several statuses. */
export function latestOf(statuses: readonly (InstanceStatus | undefined)[]): InstanceStatus | undefined {
  const present = statuses.filter((status): status is InstanceStatus => status !== undefined);
  return present.sort((a, b) => Date.parse(isoTime(b.lastUpdatedTime)) - Date.parse(isoTime(a.lastUpdatedTime)))[0];
}

/** Distinct windows in date order. */
export function distinctWindows(windows: readonly Window[]): Window[] {
  const byKey = new Map(windows.map((window) => [`${window.start}_${window.stop}`, window]));
  return [...byKey.values()].sort((a, b) =>
    a.start === b.start ? a.stop.localeCompare(b.stop) : a.start.localeCompare(b.start),
  );
}
