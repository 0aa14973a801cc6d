import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputError } from '../../src/common/errors';
import {
  addDays,
  parseIsoDate,
  resolveWindow,
  scheduledWindow,
  splitWindow,
  windowKey,
} from '../../src/pipeline/window';

describe('scheduled window', () => {
  test('a Monday noon run covers Sunday through Saturday of the week before', () => {
    // 2024-01-15 is a Monday.
    assert.deepEqual(scheduledWindow(new Date('2024-01-15T12:00:00Z')), { start: '2024-01-07', stop: '2024-01-14' });
  });

  test('a late run derived from its scheduled time keeps its week', () => {
    const scheduled = new Date('2024-01-15T12:00:00Z');
    assert.deepEqual(scheduledWindow(scheduled), scheduledWindow(new Date('2024-01-15T23:59:59Z')));
  });

  test('crosses a month boundary', () => {
    assert.deepEqual(scheduledWindow(new Date('2024-04-01T12:00:00Z')), { start: '2024-03-24', stop: '2024-03-31' });
    assert.deepEqual(scheduledWindow(new Date('2024-04-08T12:00:00Z')), { start: '2024-03-31', stop: '2024-04-07' });
  });

  test('crosses a year boundary', () => {
    assert.deepEqual(scheduledWindow(new Date('2024-01-01T12:00:00Z')), { start: '2023-12-24', stop: '2023-12-31' });
    assert.deepEqual(scheduledWindow(new Date('2024-01-08T12:00:00Z')), { start: '2023-12-31', stop: '2024-01-07' });
  });

  test('includes a leap day', () => {
    assert.deepEqual(scheduledWindow(new Date('2024-03-04T12:00:00Z')), { start: '2024-02-25', stop: '2024-03-03' });
    assert.equal(addDays('2024-02-28', 1), '2024-02-29');
    assert.equal(addDays('2023-02-28', 1), '2023-03-01');
  });

  test('uses the UTC date of the reference time', () => {
    // 23:30 in New York on Sunday is already Monday in UTC.
    assert.deepEqual(scheduledWindow(new Date('2024-01-14T23:30:00-05:00')), {
      start: '2024-01-07',
      stop: '2024-01-14',
    });
  });
});

describe('requested window', () => {
  const now = new Date('2024-01-15T12:00:00Z');
  const flags = { start: '--start-date', stop: '--stop-date' };

  test('two dates make the window; none make the scheduled one', () => {
    assert.deepEqual(resolveWindow({ start: '2024-02-28', stop: '2024-03-01' }, now, flags), {
      start: '2024-02-28',
      stop: '2024-03-01',
    });
    assert.deepEqual(resolveWindow({}, now, flags), { start: '2024-01-07', stop: '2024-01-14' });
  });

  test('a date that does not exist is refused, naming the flag', () => {
    assert.throws(() => resolveWindow({ start: '2024-02-30', stop: '2024-03-02' }, now, flags), {
      name: 'InputError',
      message: '--start-date "2024-02-30" is not a calendar date (YYYY-MM-DD)',
    });
    assert.throws(
      () => resolveWindow({ start: '2023-02-28', stop: '2023-02-29' }, now, flags),
      /--stop-date "2023-02-29"/,
    );
    assert.doesNotThrow(() => parseIsoDate('2024-02-29', 'x'));
  });

  test('a malformed date is refused, naming the flag', () => {
    for (const bad of ['2024-1-07', '07/01/2024', '2024-01-07T00:00:00', '']) {
      assert.throws(
        () => resolveWindow({ start: bad, stop: '2024-03-02' }, now, flags),
        (error: unknown) => {
          assert.ok(error instanceof InputError);
          assert.equal(error.field, '--start-date');
          return true;
        },
      );
    }
  });

  test('stop must be after start, and one date alone is refused', () => {
    assert.throws(
      () => resolveWindow({ start: '2024-01-07', stop: '2024-01-07' }, now, flags),
      /--stop-date "2024-01-07" must be after/,
    );
    assert.throws(() => resolveWindow({ start: '2024-01-07' }, now, flags), /--stop-date is required/);
    assert.throws(() => resolveWindow({ stop: '2024-01-07' }, now, flags), /--start-date is required/);
  });

  test('the window key is its two dates', () => {
    assert.equal(windowKey({ start: '2024-01-07', stop: '2024-01-14' }), '2024-01-07_2024-01-14');
  });
});

describe('chunks of a long window', () => {
  test('cover the window exactly, in order, the last one shorter', () => {
    assert.deepEqual(splitWindow({ start: '2024-01-01', stop: '2024-03-01' }, 28), [
      { start: '2024-01-01', stop: '2024-01-29' },
      { start: '2024-01-29', stop: '2024-02-26' },
      { start: '2024-02-26', stop: '2024-03-01' },
    ]);
  });

  test('a window no longer than a chunk is its own single chunk', () => {
    assert.deepEqual(splitWindow({ start: '2024-01-07', stop: '2024-01-14' }, 28), [
      { start: '2024-01-07', stop: '2024-01-14' },
    ]);
    assert.deepEqual(splitWindow({ start: '2024-01-01', stop: '2024-01-29' }, 28), [
      { start: '2024-01-01', stop: '2024-01-29' },
    ]);
  });

  test('refuses a chunk that is not a whole number of days', () => {
    assert.throws(() => splitWindow({ start: '2024-01-07', stop: '2024-01-14' }, 0), /not a whole number/);
  });
});
