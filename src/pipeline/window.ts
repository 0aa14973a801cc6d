import { InputError } from '../common/errors';

/**
 * A run's window: the half-open range of calendar dates `[start, stop)`, as `YYYY-MM-DD` strings.
 * The window is the run's identity: staged paths, instance ids and the rows a load may touch derive from it.
 */
export interface Window {
  readonly start: string;
  readonly stop: string;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 86_400_000;

/**
 * The earliest year a date may have. JavaScript maps years 0–99 to 1900–1999, and no dataset starts before
 * 2010, so an early year is a typo to refuse plainly rather than a date to compute with.
 */
export const FIRST_SUPPORTED_YEAR = 1000;

/** Parses a `YYYY-MM-DD` calendar date; `field` names the flag or setting in the error. */
export function parseIsoDate(value: string, field: string): string {
  const match = ISO_DATE.exec(value);
  if (!match) throw new InputError(field, `${field} "${value}" is not a date in the form YYYY-MM-DD`);
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (year < FIRST_SUPPORTED_YEAR) {
    throw new InputError(
      field,
      `${field} "${value}" is not supported: dates before year ${FIRST_SUPPORTED_YEAR} are refused (the datasets start in 2010 or later)`,
    );
  }
  const date = new Date(Date.UTC(year, month - 1, day));
  // Date.UTC rolls 2024-02-30 over to 2024-03-01: a round trip tells real dates from rolled ones.
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    throw new InputError(field, `${field} "${value}" is not a calendar date (YYYY-MM-DD)`);
  }
  return value;
}

export function addDays(isoDate: string, days: number): string {
  return new Date(Date.parse(`${isoDate}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

/**
 * The scheduled window for a reference time T (the timer's scheduled time, or now on the command line):
 * `[date(T) − 8 days, date(T) − 1 day)`. For a Monday run that is Sunday through Saturday of the week
 * before, as the original flow did. Deriving it from the *scheduled* time keeps a late run on its week.
 */
export function scheduledWindow(reference: Date): Window {
  if (Number.isNaN(reference.getTime()))
    throw new InputError('reference time', 'the reference time is not a valid date');
  const today = reference.toISOString().slice(0, 10);
  return { start: addDays(today, -8), stop: addDays(today, -1) };
}

/**
 * The window a caller asked for. Both dates, or neither (then the scheduled window for `reference`);
 * `names` are how the caller spells the two fields, so errors name what the user typed.
 */
export function resolveWindow(
  requested: { start?: string | undefined; stop?: string | undefined },
  reference: Date,
  names: { start: string; stop: string } = { start: 'start', stop: 'stop' },
): Window {
  const { start, stop } = requested;
  if (start === undefined && stop === undefined) return scheduledWindow(reference);
  if (start === undefined) throw new InputError(names.start, `${names.start} is required when ${names.stop} is given`);
  if (stop === undefined) throw new InputError(names.stop, `${names.stop} is required when ${names.start} is given`);
  parseIsoDate(start, names.start);
  parseIsoDate(stop, names.stop);
  if (stop <= start) {
    throw new InputError(
      names.stop,
      `${names.stop} "${stop}" must be after ${names.start} "${start}" (the window is [start, stop))`,
    );
  }
  return { start, stop };
}

/** The UTC calendar date of a moment, `YYYY-MM-DD`: what `clipWindow` takes as today. */
export function utcDate(moment: Date): string {
  if (Number.isNaN(moment.getTime())) throw new Error('the current time is not a valid date');
  return moment.toISOString().slice(0, 10);
}

export interface ClippedWindow {
  /** The part of the requested window that can hold data. */
  readonly window: Window;
  /** True when `window` is smaller than `requested`, so a summary can say the window was clipped. */
  readonly clipped: boolean;
  readonly requested: Window;
}

/**
 * Clips a window to the dates a dataset can have: from its first date up to tomorrow (UTC; tomorrow, not today,
 * since today's hours are still arriving and the stop date is exclusive). `1900-01-01..2100-01-01` becomes the
 * dataset's whole history, one run instead of thousands of empty chunks. A window with nothing left is an input
 * error naming the date that put it there; `names` are how the caller spells the two fields, as in `resolveWindow`.
 */
export function clipWindow(
  window: Window,
  firstDate: string,
  today: string,
  names: { start: string; stop: string } = { start: 'start', stop: 'stop' },
): ClippedWindow {
  const first = checkedDate(firstDate);
  const tomorrow = addDays(checkedDate(today), 1);
  if (window.stop <= first) {
    throw new InputError(
      names.stop,
      `${names.stop} "${window.stop}" must be after ${first}, the first date this dataset has: the window ${describeWindow(window)} holds no data`,
    );
  }
  if (window.start >= tomorrow) {
    throw new InputError(
      names.start,
      `${names.start} "${window.start}" is in the future: the window ${describeWindow(window)} holds no data yet (the latest window ends at ${tomorrow}, tomorrow in UTC)`,
    );
  }
  const clippedWindow: Window = {
    start: window.start < first ? first : window.start,
    stop: window.stop > tomorrow ? tomorrow : window.stop,
  };
  const clipped = clippedWindow.start !== window.start || clippedWindow.stop !== window.stop;
  return { window: clipped ? clippedWindow : window, clipped, requested: window };
}

/** The window's length in days. */
export function daysIn(window: Window): number {
  return Math.round((Date.parse(`${window.stop}T00:00:00Z`) - Date.parse(`${window.start}T00:00:00Z`)) / DAY_MS);
}

/**
 * Splits a window into consecutive windows of at most `maxDays` days, from its start. Long runs go chunk by
 * chunk so that memory, and the work lost to a failure, stay those of one chunk whatever the window's length.
 */
export function splitWindow(window: Window, maxDays: number): Window[] {
  if (!Number.isInteger(maxDays) || maxDays < 1)
    throw new Error(`a chunk of ${maxDays} days is not a whole number of days`);
  const chunks: Window[] = [];
  for (let start = window.start; start < window.stop; start = addDays(start, maxDays)) {
    const stop = addDays(start, maxDays);
    chunks.push({ start, stop: stop < window.stop ? stop : window.stop });
  }
  return chunks;
}

/**
 * A window date about to become part of a path, a query or a statement: checked where it is used, whatever
 * checked it before, since windows also arrive from HTTP requests and orchestration history.
 */
export function checkedDate(value: string): string {
  if (!ISO_DATE.test(value)) throw new Error(`"${value}" is not a YYYY-MM-DD date`);
  return value;
}

/** `2024-01-07_2024-01-14`: the window as a path segment and instance-id suffix. */
export function windowKey(window: Window): string {
  return `${checkedDate(window.start)}_${checkedDate(window.stop)}`;
}

export function describeWindow(window: Window): string {
  return `[${window.start}, ${window.stop})`;
}
