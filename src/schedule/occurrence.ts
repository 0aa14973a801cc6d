import { InputError } from '../common/errors';
import { SETTINGS } from '../run/settings';
import { type Window, scheduledWindow } from '../pipeline/window';
import { type Crontab, CrontabError, nextOccurrence, occurrenceAtOrBefore, parseCrontab } from './ncrontab';

/**
 * The weekly timer's schedule: a six-field NCRONTAB expression (`{second} {minute} {hour} {day} {month}
 * {day-of-week}`), read as the host's NCrontab reads it and evaluated in UTC as the host does on Linux and Flex
 * Consumption.
 */
export interface Schedule {
  readonly expression: string;
  readonly crontab: Crontab;
}

/**
 * How early a fire may come and still belong to the occurrence it anticipates. The host's own comment says a
 * fire can come "likely under 1 second" early (clock skew); instances' clocks can disagree by more. A fire is
 * only ever moved to an occurrence nearer to it than the previous one, so a frequent schedule is never moved
 * onto the next slot.
 */
export const EARLY_FIRE_TOLERANCE_MS = 5 * 60_000;

/** Checks an NCRONTAB expression once, where it is read; `field` names the app setting in the error. */
export function parseSchedule(expression: string, field: string = SETTINGS.schedule): Schedule {
  try {
    const crontab = parseCrontab(expression);
    return { expression: crontab.expression, crontab };
  } catch (error) {
    if (!(error instanceof CrontabError)) throw error;
    throw new InputError(
      field,
      `${field} "${expression}" is not a schedule the Functions host accepts: ${error.message}; e.g. "0 0 12 * * 1" is Monday 12:00 UTC`,
    );
  }
}

/** The latest occurrence of the schedule at or before `time`. */
export function previousOccurrence(schedule: Schedule, time: Date): Date {
  const found = occurrenceAtOrBefore(schedule.crontab, time);
  if (!found) throw new Error(`"${schedule.expression}" has no occurrence before ${time.toISOString()}`);
  return found;
}

/** The next occurrence strictly after `time`, as the host's NCrontab computes it (whole seconds). */
export function followingOccurrence(schedule: Schedule, time: Date): Date {
  const found = nextOccurrence(schedule.crontab, time);
  if (!found) throw new Error(`"${schedule.expression}" has no occurrence after ${time.toISOString()}`);
  return found;
}

/**
 * The occurrence a timer fire belongs to, and so its window. A fire hours late (scale from zero, a restart,
 * `isPastDue`) or repeated (the host can fire twice) maps to the latest occurrence at or before it, so it
 * processes the same week as the on-time fire; a fire shortly before an occurrence (within the tolerance, and
 * nearer to it than to the previous one) belongs to the occurrence it anticipates.
 */
export function windowForFire(schedule: Schedule, invokedAt: Date): { occurrence: Date; window: Window } {
  const previous = previousOccurrence(schedule, invokedAt);
  const next = followingOccurrence(schedule, invokedAt);
  const ahead = next.getTime() - invokedAt.getTime();
  const behind = invokedAt.getTime() - previous.getTime();
  const occurrence = ahead <= EARLY_FIRE_TOLERANCE_MS && ahead < behind ? next : previous;
  return { occurrence, window: scheduledWindow(occurrence) };
}
