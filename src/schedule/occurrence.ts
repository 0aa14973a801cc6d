import { CronExpressionParser } from 'cron-parser';
import { InputError, describeError } from '../common/errors';
import { SETTINGS } from '../run/settings';
import { type Window, scheduledWindow } from '../pipeline/window';

/**
 * The weekly timer's schedule: a six-field NCRONTAB expression (`{second} {minute} {hour} {day} {month}
 * {day-of-week}`), evaluated in UTC as the Functions host does on Linux and Flex Consumption.
 */
export interface Schedule {
  readonly expression: string;
}

/**
 * The host can fire a timer slightly before its occurrence (its own comment says "likely under 1 second,
 * clock skew"). An occurrence this close after the invocation still counts as the one the fire belongs to.
 */
export const EARLY_FIRE_TOLERANCE_MS = 5_000;

/** Checks an NCRONTAB expression once, where it is read; `field` names the app setting in the error. */
export function parseSchedule(expression: string, field: string = SETTINGS.schedule): Schedule {
  const fields = expression.trim().split(/\s+/);
  // cron-parser also reads five-field cron, where the first field is minutes: NCRONTAB always starts with seconds.
  if (fields.length !== 6) {
    throw new InputError(
      field,
      `${field} "${expression}" has ${fields.length} fields; NCRONTAB needs six: {second} {minute} {hour} {day} {month} {day-of-week}, e.g. "0 0 12 * * 1" (Monday 12:00 UTC)`,
    );
  }
  try {
    CronExpressionParser.parse(expression, { tz: 'UTC' }).prev();
  } catch (error) {
    throw new InputError(field, `${field} "${expression}" is not a usable NCRONTAB schedule: ${describeError(error)}`);
  }
  return { expression: fields.join(' ') };
}

/** The latest occurrence of the schedule at or before `time`. */
export function occurrenceAtOrBefore(schedule: Schedule, time: Date): Date {
  // prev() answers strictly before its start: start one millisecond later so an occurrence at `time` counts.
  const expression = CronExpressionParser.parse(schedule.expression, {
    tz: 'UTC',
    currentDate: new Date(time.getTime() + 1),
  });
  return expression.prev().toDate();
}

/**
 * The occurrence a timer fire belongs to, and so its window. A fire hours late (scale from zero, a restart,
 * `isPastDue`) or repeated (the host can fire twice) maps to the same occurrence as the on-time fire, so it
 * processes the same week; an early fire within the tolerance maps to the occurrence it anticipates.
 */
export function windowForFire(schedule: Schedule, invokedAt: Date): { occurrence: Date; window: Window } {
  const occurrence = occurrenceAtOrBefore(schedule, new Date(invokedAt.getTime() + EARLY_FIRE_TOLERANCE_MS));
  return { occurrence, window: scheduledWindow(occurrence) };
}
