import { InputError } from '../common/errors';
import { SETTINGS } from '../run/settings';
import type { InstanceStatus } from './run-status';

/** Runs that finished more than this many days ago leave the task hub. */
export const DEFAULT_PURGE_AFTER_DAYS = 30;
/** Purged at most this many per fire, so one fire stays short; the next fire goes on. */
export const MAX_PURGED_PER_RUN = 1_000;
/** Daily, at a quiet hour (UTC), NCRONTAB. */
export const PURGE_SCHEDULE = '0 30 3 * * *';

const DAY_MS = 86_400_000;

/** `BNT_PURGE_AFTER_DAYS`: a whole number of days, at least 1; unset means the default. */
export function purgeAfterDays(value: string | undefined, field: string = SETTINGS.purgeAfterDays): number {
  if (value === undefined || value.trim() === '') return DEFAULT_PURGE_AFTER_DAYS;
  const days = Number(value);
  if (!/^\d+$/.test(value.trim()) || days < 1 || days > 3650) {
    throw new InputError(field, `${field} "${value}" must be a whole number of days from 1 to 3650`);
  }
  return days;
}

/** Before this moment a finished run may go. */
export function purgeCutoff(now: Date, days: number): Date {
  return new Date(now.getTime() - days * DAY_MS);
}

/**
 * Which of the listed runs to purge: finished (the list asks only for finished ones), and last updated
 * (which for a finished run is when it finished) before the cutoff. The task hub filters on created time
 * only, so a long run created before the cutoff but finished after it stays.
 */
export function runsToPurge(candidates: readonly InstanceStatus[], cutoff: Date): string[] {
  return candidates
    .filter((status) => new Date(status.lastUpdatedTime).getTime() < cutoff.getTime())
    .map((status) => status.instanceId)
    .slice(0, MAX_PURGED_PER_RUN);
}
