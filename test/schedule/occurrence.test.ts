import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/common/errors';
import { DEFAULT_SCHEDULE } from '../../src/run/settings';
import {
  EARLY_FIRE_TOLERANCE_MS,
  parseSchedule,
  previousOccurrence,
  windowForFire,
} from '../../src/schedule/occurrence';

const monday = parseSchedule(DEFAULT_SCHEDULE);
const at = (iso: string) => new Date(iso);

describe('the weekly schedule', () => {
  it('reads the default six-field NCRONTAB expression as Monday 12:00 UTC', () => {
    assert.equal(at('2026-11-23T00:00:00Z').getUTCDay(), 1, 'the fixture date is a Monday');
    assert.deepEqual(previousOccurrence(monday, at('2026-11-25T08:00:00Z')), at('2026-11-23T12:00:00Z'));
  });

  it('counts an occurrence exactly at the time as at-or-before', () => {
    assert.deepEqual(previousOccurrence(monday, at('2026-11-23T12:00:00Z')), at('2026-11-23T12:00:00Z'));
    assert.deepEqual(previousOccurrence(monday, at('2026-11-23T11:59:59Z')), at('2026-11-16T12:00:00Z'));
  });

  it('refuses five-field cron (minute first), naming BNT_SCHEDULE', () => {
    assert.throws(
      () => parseSchedule('0 12 * * 1'),
      (error: unknown) =>
        error instanceof InputError &&
        error.field === 'BNT_SCHEDULE' &&
        /5 fields; NCRONTAB needs six/.test(error.message),
    );
  });

  it('refuses what the host’s NCrontab refuses though cron-parser reads it, naming the setting and the value', () => {
    for (const expression of [
      '0 0 12 * * Funday',
      '0 0 12 ? * MON',
      '0 0 12 L * *',
      '0 0 12 * * 1#1',
      '0 0 12 * * 7',
    ]) {
      assert.throws(
        () => parseSchedule(expression),
        (error: unknown) =>
          error instanceof InputError &&
          error.field === 'BNT_SCHEDULE' &&
          error.message.includes(`"${expression}"`) &&
          /not a schedule the Functions host accepts/.test(error.message),
        expression,
      );
    }
  });

  it('accepts other six-field schedules, evaluated in UTC', () => {
    const daily = parseSchedule('0 30 6 * * *');
    assert.deepEqual(previousOccurrence(daily, at('2026-11-23T06:29:00Z')), at('2026-11-22T06:30:00Z'));
  });
});

describe('the window of a timer fire', () => {
  const expected = { start: '2026-11-15', stop: '2026-11-22' };

  it('is the week before the occurrence: [date − 8 days, date − 1 day)', () => {
    assert.deepEqual(windowForFire(monday, at('2026-11-23T12:00:00.020Z')).window, expected);
  });

  it('is the same for a fire hours late (scale from zero, a restart) or a past-due fire the next day', () => {
    assert.deepEqual(windowForFire(monday, at('2026-11-23T18:45:00Z')).window, expected);
    assert.deepEqual(windowForFire(monday, at('2026-11-24T03:00:00Z')).window, expected);
  });

  it('is the same for a repeated fire of one occurrence', () => {
    const first = windowForFire(monday, at('2026-11-23T12:00:00.005Z'));
    const second = windowForFire(monday, at('2026-11-23T12:00:41Z'));
    assert.deepEqual(second, first);
  });

  it('belongs to the coming occurrence when the host fires a few seconds early (clock skew)', () => {
    for (const invokedAt of ['2026-11-23T11:59:59.400Z', '2026-11-23T11:59:54Z', '2026-11-23T11:59:20Z']) {
      const early = windowForFire(monday, at(invokedAt));
      assert.deepEqual(early.occurrence, at('2026-11-23T12:00:00Z'), invokedAt);
      assert.deepEqual(early.window, expected, invokedAt);
    }
    const tooEarly = new Date(at('2026-11-23T12:00:00Z').getTime() - EARLY_FIRE_TOLERANCE_MS - 1000);
    assert.deepEqual(windowForFire(monday, tooEarly).occurrence, at('2026-11-16T12:00:00Z'), 'beyond the tolerance');
  });

  it('never moves a fire of a frequent schedule onto the next slot', () => {
    const everyMinute = parseSchedule('0 * * * * *');
    assert.deepEqual(windowForFire(everyMinute, at('2026-11-23T12:00:20Z')).occurrence, at('2026-11-23T12:00:00Z'));
    assert.deepEqual(windowForFire(everyMinute, at('2026-11-23T12:00:50Z')).occurrence, at('2026-11-23T12:01:00Z'));
  });

  it('moves to the next week only with the next occurrence', () => {
    assert.deepEqual(windowForFire(monday, at('2026-11-30T11:00:00Z')).window, expected);
    assert.deepEqual(windowForFire(monday, at('2026-11-30T12:00:00Z')).window, {
      start: '2026-11-22',
      stop: '2026-11-29',
    });
  });
});
