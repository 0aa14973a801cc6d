/**
 * What the run ledger says about a stretch of days, when runs of different windows overlap it (weekly windows,
 * backfill units of many weeks, command-line runs of any range):
 *
 * - **A day's state** is the verdict of the latest run, by finish time, whose window holds the day: `completed`,
 *   `stale` or `failed`; a day no run's window holds was never run.
 * - **A window's state** (a week, say) is the worst of its days: `failed` if any day's latest run failed, else
 *   `never-run` if any day was never run, else `stale` if any day's latest run was stale, else `loaded`.
 *
 * So a week a backfill unit loaded and a later weekly run of it failed is failed; a command-line run of two of its
 * days that completes afterwards leaves the other five failed, and the week with them; a `failed` backfill redoes
 * exactly the failed days. Each window's last run is the latest run whose window overlaps it.
 */
import type { LedgerEntry } from './ledger';
import { type Window, addDays } from './window';

export type WindowState = 'loaded' | 'stale' | 'failed' | 'never-run';

export interface WindowStateAnswer {
  readonly window: Window;
  readonly state: WindowState;
  /** The latest run whose window overlaps this one. */
  readonly lastRun: LedgerEntry | undefined;
}

const DAY_MS = 86_400_000;

function dayIndex(range: Window, day: string): number {
  return Math.round((Date.parse(`${day}T00:00:00Z`) - Date.parse(`${range.start}T00:00:00Z`)) / DAY_MS);
}

/**
 * Each day of `range` with the latest run whose window holds it (undefined: never run). `entries` must be oldest
 * first (as `readLedger` returns them): each paints its days over the ones before it.
 */
export function latestRunPerDay(entries: readonly LedgerEntry[], range: Window): (LedgerEntry | undefined)[] {
  const days = new Array<LedgerEntry | undefined>(Math.max(0, dayIndex(range, range.stop))).fill(undefined);
  for (const entry of entries) {
    const from = Math.max(0, dayIndex(range, entry.window.start));
    const to = Math.min(days.length, dayIndex(range, entry.window.stop));
    for (let day = from; day < to; day++) days[day] = entry;
  }
  return days;
}

function stateOfDays(days: readonly (LedgerEntry | undefined)[]): WindowState {
  if (days.some((entry) => entry?.status === 'failed')) return 'failed';
  if (days.some((entry) => entry === undefined)) return 'never-run';
  if (days.some((entry) => entry?.status === 'stale')) return 'stale';
  return 'loaded';
}

/** The state of each window (all inside `range`, which bounds the work), and its last run. */
export function windowStates(
  entries: readonly LedgerEntry[],
  range: Window,
  windows: readonly Window[],
): WindowStateAnswer[] {
  const days = latestRunPerDay(entries, range);
  return windows.map((window) => {
    const own = days.slice(Math.max(0, dayIndex(range, window.start)), dayIndex(range, window.stop));
    const lastRun = own.reduce<LedgerEntry | undefined>(
      (latest, entry) => (entry && (!latest || entry.finishedAt > latest.finishedAt) ? entry : latest),
      undefined,
    );
    return { window, state: stateOfDays(own), lastRun };
  });
}

/**
 * The weeks of a range with their states: Sunday to Saturday, the weeks the weekly timer loads (its Monday fire
 * takes the week before), so a row is a week a run covers whatever dates were asked; the first and last may be
 * shorter where the range starts or stops mid-week.
 */
export function weekStates(entries: readonly LedgerEntry[], range: Window): WindowStateAnswer[] {
  const weeks: Window[] = [];
  for (let start = range.start; start < range.stop; ) {
    const sunday = addDays(start, 7 - new Date(`${start}T00:00:00Z`).getUTCDay());
    const stop = sunday < range.stop ? sunday : range.stop;
    weeks.push({ start, stop });
    start = stop;
  }
  return windowStates(entries, range, weeks);
}

/** The stretches of `range` whose days' latest run failed, merged: what a `failed` backfill redoes. */
export function failedStretches(entries: readonly LedgerEntry[], range: Window): Window[] {
  const stretches: Window[] = [];
  latestRunPerDay(entries, range).forEach((entry, index) => {
    if (entry?.status !== 'failed') return;
    const day = addDays(range.start, index);
    const last = stretches.at(-1);
    if (last && last.stop === day) stretches[stretches.length - 1] = { start: last.start, stop: addDays(day, 1) };
    else stretches.push({ start: day, stop: addDays(day, 1) });
  });
  return stretches;
}
