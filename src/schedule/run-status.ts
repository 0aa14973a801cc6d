import type { Window } from '../pipeline/window';
import type { LedgerEntry } from '../pipeline/ledger';
import { type BackfillMode, type RunKind, isActive, parseInstanceId, unitInstanceId } from './instances';
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
  return answer;
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

/** The unit windows a backfill's input planned (in `missing` mode, once it has continued as new with its plan). */
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

/** Units a status answer lists at most; `unitOffset` pages through the rest. */
export const UNITS_PER_ANSWER = 100;

export interface UnitPage {
  /** The page's units, each with its verdict from the run ledger when it has one, else `undefined`. */
  readonly units: readonly (UnitAnswer & { readonly recorded: boolean })[];
  readonly page: { readonly offset: number; readonly limit: number; readonly total: number; readonly next?: number };
}

/**
 * A page of a backfill's units in plan order, each with its latest run-ledger record of this backfill (its
 * instance id, written since the backfill was created): `completed`, `stale` or `failed`. A unit without one is
 * still `pending` here; the caller asks that unit's own instance where it is.
 */
export function unitPage(backfill: InstanceStatus, entries: readonly LedgerEntry[], offset: number): UnitPage {
  const planned = plannedUnits(backfill);
  const created = isoTime(backfill.createdTime);
  const latest = new Map<string, LedgerEntry>();
  for (const entry of entries) if (entry.finishedAt >= created) latest.set(entry.instanceId, entry);
  const units = planned.slice(offset, offset + UNITS_PER_ANSWER).map((window) => {
    const instanceId = unitInstanceId(backfill.instanceId, window);
    const recorded = latest.get(instanceId);
    return { ...window, instanceId, status: recorded?.status ?? 'pending', recorded: recorded !== undefined };
  });
  const next = offset + UNITS_PER_ANSWER;
  return {
    units,
    page: { offset, limit: UNITS_PER_ANSWER, total: planned.length, ...(next < planned.length ? { next } : {}) },
  };
}
