/**
 * The six-field NCRONTAB grammar exactly as NCrontab (atifaziz/NCrontab, the parser the Functions host's timer
 * trigger uses) reads it, and its occurrences computed the way it computes them. No npm cron library matches
 * it: they accept `?`, `L`, `W`, `#`, `H` and day-of-week 7, and join day-of-month and day-of-week with OR,
 * where NCrontab refuses the first and joins with AND. An expression the host refuses means a timer that never
 * fires, so the app must refuse at load exactly what the host would.
 *
 * What NCrontab does, and so what this does:
 * - the expression splits on spaces only (runs of spaces are one separator); six tokens, seconds first;
 * - a field is a comma list (the comma not first); an item is `*`, a value, or a range `a-b` (swapped when
 *   a > b), each optionally `/step` (`a/step` means a to the field's maximum); a step below 1 counts as 1;
 * - a value is digits (as .NET's int.Parse reads them: trailing white space allowed) or, for months and days
 *   of the week, any case-insensitive prefix of an English name, the first name in the list that it begins
 *   (`M` is March, `T` Tuesday, `W` Wednesday);
 * - ranges: seconds and minutes 0–59, hours 0–23, days 1–31, months 1–12, days of the week 0–6 (Sunday 0);
 * - an occurrence matches every field, day of month and day of week alike; the next occurrence after a time is
 *   the first whole second after it (milliseconds are ignored) that matches.
 *
 * Stricter than NCrontab in corners nobody writes on purpose: names are compared in ASCII only (.NET's
 * invariant culture would also ignore zero-width characters), and an expression that can never occur (the 30th
 * of February), which NCrontab accepts and never fires, is refused too.
 */

export type FieldName = 'second' | 'minute' | 'hour' | 'day' | 'month' | 'day-of-week';

interface FieldSpec {
  readonly name: FieldName;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

const FIELDS: readonly FieldSpec[] = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day-of-week', min: 0, max: 6, names: WEEKDAYS },
];

/** Why NCrontab refuses an expression, in its terms. */
export class CrontabError extends Error {
  override readonly name = 'CrontabError';
}

/** A parsed schedule: for each field, the values it allows, ascending. */
export interface Crontab {
  readonly expression: string;
  readonly seconds: readonly number[];
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly days: readonly number[];
  readonly months: readonly number[];
  readonly daysOfWeek: readonly number[];
}

/** .NET int.Parse with NumberStyles.Integer: optional white space around, an optional sign, digits. */
const DOTNET_INTEGER = /^[\t\n\v\f\r ]*([+-]?\d+)[\t\n\v\f\r ]*$/;

export function parseCrontab(expression: string): Crontab {
  const tokens = expression.split(' ').filter((token) => token !== '');
  if (tokens.length !== FIELDS.length) {
    throw new CrontabError(
      `it has ${tokens.length} field${tokens.length === 1 ? '' : 's'}; NCRONTAB needs six: {second} {minute} {hour} {day} {month} {day-of-week}`,
    );
  }
  const [seconds, minutes, hours, days, months, daysOfWeek] = tokens.map((token, index) =>
    parseField(token, FIELDS[index] as FieldSpec),
  ) as [number[], number[], number[], number[], number[], number[]];
  const crontab: Crontab = { expression: tokens.join(' '), seconds, minutes, hours, days, months, daysOfWeek };
  if (!canOccur(crontab)) {
    throw new CrontabError('no date matches its day, month and day of week, so it would never fire');
  }
  return crontab;
}

function parseField(token: string, field: FieldSpec): number[] {
  const values = new Set<number>();
  // NCrontab reads a list only when the comma is not the first character; otherwise the token is one item.
  const items = token.indexOf(',') > 0 ? token.split(',') : [token];
  for (const item of items) addItem(item, field, values);
  return [...values].sort((a, b) => a - b);
}

function addItem(item: string, field: FieldSpec, values: Set<number>): void {
  if (item === '') throw fieldError(field, item, 'a value cannot be empty');
  let body = item;
  let step: number | undefined;
  const slash = item.indexOf('/');
  if (slash > 0) {
    step = dotnetInt(item.slice(slash + 1), field, item);
    body = item.slice(0, slash);
  }
  let first: number;
  let last: number;
  if (body === '*') {
    first = field.min;
    last = field.max;
  } else if (body.indexOf('-') > 0) {
    const dash = body.indexOf('-');
    first = value(body.slice(0, dash), field, item);
    last = value(body.slice(dash + 1), field, item);
    if (first > last) [first, last] = [last, first];
    checkRange(first, field, item);
    checkRange(last, field, item);
  } else {
    first = value(body, field, item);
    last = step === undefined ? first : field.max;
    checkRange(first, field, item);
  }
  const interval = step === undefined || step < 1 ? 1 : step;
  for (let v = first; v <= last; v += interval) values.add(v);
}

function value(text: string, field: FieldSpec, item: string): number {
  if (text === '') throw fieldError(field, item, 'a value cannot be empty');
  const head = text.charAt(0);
  if (head >= '0' && head <= '9') return dotnetInt(text, field, item);
  if (!field.names) throw fieldError(field, item, `"${text}" is not a number from ${field.min} to ${field.max}`);
  const lower = text.toLowerCase();
  const index = field.names.findIndex((name) => name.toLowerCase().startsWith(lower));
  if (index === -1) {
    throw fieldError(field, item, `"${text}" is not a known name (one of ${field.names.join(', ')}, or a prefix)`);
  }
  return index + field.min;
}

function dotnetInt(text: string, field: FieldSpec, item: string): number {
  const match = DOTNET_INTEGER.exec(text);
  const parsed = match ? Number(match[1]) : Number.NaN;
  // int.Parse overflows past 32 bits; NCrontab does not catch that either, so the host refuses it too.
  if (!Number.isSafeInteger(parsed) || Math.abs(parsed) > 2_147_483_647) {
    throw fieldError(field, item, `"${text}" is not a whole number`);
  }
  return parsed;
}

function checkRange(v: number, field: FieldSpec, item: string): void {
  if (v < field.min || v > field.max) {
    throw fieldError(field, item, `${v} is outside ${field.min}–${field.max}`);
  }
}

function fieldError(field: FieldSpec, item: string, detail: string): CrontabError {
  return new CrontabError(`"${item}" is not a valid ${field.name} field: ${detail}`);
}

// ---------------------------------------------------------------------------------------------------------
// Occurrences (UTC)

const DAY_MS = 86_400_000;
/** The Gregorian calendar repeats every 400 years (146,097 days, a whole number of weeks). */
const CALENDAR_CYCLE_DAYS = 146_097;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function dateMatches(crontab: Crontab, dayStart: Date): boolean {
  return (
    crontab.months.includes(dayStart.getUTCMonth() + 1) &&
    crontab.days.includes(dayStart.getUTCDate()) &&
    crontab.daysOfWeek.includes(dayStart.getUTCDay())
  );
}

/** Whether any date in the 400-year cycle matches; a month/day pair that exists at all settles it quickly. */
function canOccur(crontab: Crontab): boolean {
  const possible = crontab.months.some((month) => crontab.days.some((day) => day <= daysInMonth(2000, month)));
  if (!possible) return false;
  const start = Date.UTC(2000, 0, 1);
  for (let day = 0; day < CALENDAR_CYCLE_DAYS; day++) {
    if (dateMatches(crontab, new Date(start + day * DAY_MS))) return true;
  }
  return false;
}

/** Seconds since midnight of each time of day the schedule allows, ascending. */
function timesOfDay(crontab: Crontab): number[] {
  const times: number[] = [];
  for (const hour of crontab.hours)
    for (const minute of crontab.minutes)
      for (const second of crontab.seconds) times.push(hour * 3600 + minute * 60 + second);
  return times;
}

/**
 * NCrontab's `GetNextOccurrence(baseTime)`: the first matching second strictly after `after` (its
 * milliseconds dropped). Undefined when none comes within a 400-year cycle (which `parseCrontab` refuses).
 */
export function nextOccurrence(crontab: Crontab, after: Date): Date | undefined {
  const base = Math.floor(after.getTime() / 1000) * 1000;
  const times = timesOfDay(crontab);
  const firstDay = Math.floor(base / DAY_MS) * DAY_MS;
  for (let day = 0; day <= CALENDAR_CYCLE_DAYS; day++) {
    const dayStart = firstDay + day * DAY_MS;
    if (!dateMatches(crontab, new Date(dayStart))) continue;
    const time = times.find((seconds) => dayStart + seconds * 1000 > base);
    if (time !== undefined) return new Date(dayStart + time * 1000);
  }
  return undefined;
}

/**
 * The latest occurrence at or before `time` (NCrontab has no such call; this is its inverse: the occurrence
 * `o` with `o <= time < nextOccurrence(o)`). Undefined when none comes within a 400-year cycle.
 */
export function occurrenceAtOrBefore(crontab: Crontab, time: Date): Date | undefined {
  const at = time.getTime();
  const times = timesOfDay(crontab).reverse();
  const firstDay = Math.floor(at / DAY_MS) * DAY_MS;
  for (let day = 0; day <= CALENDAR_CYCLE_DAYS; day++) {
    const dayStart = firstDay - day * DAY_MS;
    if (!dateMatches(crontab, new Date(dayStart))) continue;
    const found = times.find((seconds) => dayStart + seconds * 1000 <= at);
    if (found !== undefined) return new Date(dayStart + found * 1000);
  }
  return undefined;
}
