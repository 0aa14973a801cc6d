import { type Window, daysIn, splitWindow } from '../pipeline/window';
import { rowsPerDay } from './datasets';
import { unitInstanceId } from './instances';

/**
 * How a backfill range becomes work, sized in rows rather than days:
 * - a **unit** holds whole source pages of rows, about 19.5 (~975,000 rows): it costs its count and 20 pages, the
 *   last short enough to end paging by itself (no empty page) even when the source has a little more than the
 *   estimate, so a full history costs little more than its pages; it is staged by its own sub-orchestration, and is
 *   what a failure or a retry is counted in;
 * - at most `maxConcurrency` units stage at once: **waves** of consecutive units;
 * - loads are **batched**: adjacent staged units are merged together, one MERGE covering at most a year of
 *   history, so a long backfill writes the table a few times instead of once per unit. Only adjacent units:
 *   a MERGE's target scan spans its batch, so two missing weeks years apart are two batches, not one scan of
 *   the years between.
 *
 * The plan (units and batches) is computed once, where a backfill starts (the starter, or the first activity
 * of a `missing` backfill), and travels as data: a deploy that changes these constants while a backfill runs
 * cannot move the windows its replays see.
 */

/** Rows per source page (the source client's page size). */
export const SOURCE_PAGE_ROWS = 50_000;
/** What a unit aims at: this many source pages of rows, the last half full. */
export const UNIT_PAGES = 19.5;
/** One MERGE covers consecutive units spanning at most this many days (about a year of history). */
export const LOAD_BATCH_MAX_DAYS = 366;

/** What units are sized by: a page's rows and the dataset's rows a day. Tests scale both down together. */
export interface UnitSizing {
  readonly pageRows: number;
  readonly rowsPerDay: number;
}

export function unitSizing(dataset: string): UnitSizing {
  return { pageRows: SOURCE_PAGE_ROWS, rowsPerDay: rowsPerDay(dataset) };
}

/**
 * A unit's length: whole weeks (the same grain the `missing` mode finds gaps in), as many as fit `UNIT_PAGES` pages of
 * rows; at least one. Traffic (~480 rows a day): 290 weeks (974,400 rows). Crossings (~5,500): 25 weeks (962,500).
 */
export function unitDays(dataset: string, sizing: UnitSizing = unitSizing(dataset)): number {
  return Math.max(1, Math.floor((UNIT_PAGES * sizing.pageRows) / sizing.rowsPerDay / 7)) * 7;
}

export function estimatedRows(dataset: string, window: Window, sizing: UnitSizing = unitSizing(dataset)): number {
  return daysIn(window) * sizing.rowsPerDay;
}

/**
 * The count request and the pages, retries not counted: paging ends at the first short page, so a window costs
 * floor(rows / page) + 2 (when its rows end exactly on a page, the last request is the empty page after it).
 */
export function estimatedRequests(dataset: string, window: Window, sizing: UnitSizing = unitSizing(dataset)): number {
  return Math.floor(estimatedRows(dataset, window, sizing) / sizing.pageRows) + 2;
}

/** Each part (the whole range, or each missing stretch) cut into units from its start. */
export function splitUnits(
  dataset: string,
  parts: readonly Window[],
  sizing: UnitSizing = unitSizing(dataset),
): Window[] {
  const days = unitDays(dataset, sizing);
  return parts.flatMap((part) => splitWindow(part, days));
}

/** Consecutive groups of at most `size`: the units that stage at the same time. */
export function waves<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new Error(`a wave of ${size} is not a positive whole number`);
  const groups: T[][] = [];
  for (let index = 0; index < items.length; index += size) groups.push(items.slice(index, index + size));
  return groups;
}

/**
 * Unit indices grouped for loading: adjacent units (each starting where the one before stopped) while their
 * days add up to at most a year; a unit longer than that, or after a gap, starts a new batch. A MERGE so covers
 * at most about a year of history, and nothing between its windows.
 */
export function loadBatches(units: readonly Window[]): number[][] {
  const batches: number[][] = [];
  let current: number[] = [];
  let days = 0;
  units.forEach((unit, index) => {
    const unitLength = daysIn(unit);
    const adjacent = units[index - 1]?.stop === unit.start;
    if (current.length > 0 && (!adjacent || days + unitLength > LOAD_BATCH_MAX_DAYS)) {
      batches.push(current);
      current = [];
      days = 0;
    }
    current.push(index);
    days += unitLength;
  });
  if (current.length > 0) batches.push(current);
  return batches;
}

/** What a backfill runs, fixed when it starts: its units, and which of them each MERGE loads (indices). */
export interface UnitPlan {
  readonly units: readonly Window[];
  readonly batches: readonly (readonly number[])[];
}

/** The plan for parts of a range (the whole range, the missing stretches or the failed units). */
export function planUnits(
  dataset: string,
  parts: readonly Window[],
  sizing: UnitSizing = unitSizing(dataset),
): UnitPlan {
  const units = splitUnits(dataset, parts, sizing);
  return { units, batches: loadBatches(units) };
}

export interface PlannedUnit {
  readonly start: string;
  readonly stop: string;
  readonly instanceId: string;
  readonly estimatedRows: number;
  readonly estimatedRequests: number;
}

export interface BackfillPlan {
  readonly dataset: string;
  readonly units: readonly PlannedUnit[];
  /** Unit indices per MERGE. */
  readonly batches: readonly (readonly number[])[];
  readonly waves: number;
  readonly estimatedRows: number;
  /** Source requests for the whole backfill, retries not counted. */
  readonly estimatedRequests: number;
  /** MERGE statements: one per batch. */
  readonly merges: number;
}

/** A plan's estimates, for the dry run and the start's answer. */
export function planBackfill(
  dataset: string,
  backfillInstanceId: string,
  plan: UnitPlan,
  maxConcurrency: number,
  sizing: UnitSizing = unitSizing(dataset),
): BackfillPlan {
  const { units, batches } = plan;
  const planned = units.map((unit) => ({
    start: unit.start,
    stop: unit.stop,
    instanceId: unitInstanceId(backfillInstanceId, unit),
    estimatedRows: estimatedRows(dataset, unit, sizing),
    estimatedRequests: estimatedRequests(dataset, unit, sizing),
  }));
  return {
    dataset,
    units: planned,
    batches,
    waves: waves(units, maxConcurrency).length,
    estimatedRows: planned.reduce((sum, unit) => sum + unit.estimatedRows, 0),
    estimatedRequests: planned.reduce((sum, unit) => sum + unit.estimatedRequests, 0),
    merges: batches.length,
  };
}

/** The unit windows of each batch, as the warehouse's load planner takes them. */
export function batchWindows(units: readonly Window[], batches: readonly (readonly number[])[]): Window[][] {
  return batches.map((batch) => batch.map((index) => units[index]).filter((unit) => unit !== undefined));
}
