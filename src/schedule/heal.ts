import { InputError } from '../common/errors';
import { findDataset } from '../pipeline/datasets';
import type { LedgerEntry } from '../pipeline/ledger';
import { type Window, addDays } from '../pipeline/window';
import { type WindowState, windowStates } from '../pipeline/window-states';
import { SETTINGS } from '../run/settings';

/**
 * The schedule heals itself: each weekly fire also starts, per dataset, the weeks of the last few before its own
 * whose latest run failed or that were never run (see `window-states.ts` for a week's state), each as the window
 * orchestration it would have been, under its usual instance id.
 */
export const DEFAULT_HEAL_WEEKS = 4;
export const MAX_HEAL_WEEKS = 52;

/** `BNT_HEAL_WEEKS`: a whole number of weeks from 0 (no healing) to 52; unset means the default. */
export function healWeeks(value: string | undefined, field: string = SETTINGS.healWeeks): number {
  if (value === undefined || value.trim() === '') return DEFAULT_HEAL_WEEKS;
  const weeks = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || weeks > MAX_HEAL_WEEKS) {
    throw new InputError(
      field,
      `${field} "${value}" must be a whole number of weeks from 0 (no healing) to ${MAX_HEAL_WEEKS}`,
    );
  }
  return weeks;
}

/** The `weeks` windows before `current`, oldest first, each seven days earlier; none before the dataset's first date. */
export function earlierWeeks(dataset: string, current: Window, weeks: number): Window[] {
  const first = findDataset(dataset).firstDate;
  const earlier: Window[] = [];
  for (let back = weeks; back >= 1; back--) {
    const window = { start: addDays(current.start, -7 * back), stop: addDays(current.stop, -7 * back) };
    if (window.start >= first) earlier.push(window);
  }
  return earlier;
}

export interface WeekToHeal {
  readonly window: Window;
  readonly state: Extract<WindowState, 'failed' | 'never-run'>;
}

/** Of the weeks before `current`, those whose latest run failed or that were never run, oldest first. */
export function weeksToHeal(
  dataset: string,
  current: Window,
  weeks: number,
  entries: readonly LedgerEntry[],
): WeekToHeal[] {
  const candidates = earlierWeeks(dataset, current, weeks);
  const first = candidates[0];
  const last = candidates.at(-1);
  if (!first || !last) return [];
  return windowStates(entries, { start: first.start, stop: last.stop }, candidates).flatMap(({ window, state }) =>
    state === 'failed' || state === 'never-run' ? [{ window, state }] : [],
  );
}
