import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputError } from '../../src/common/errors';
import { BNT_HOURLY_CROSSINGS, BNT_HOURLY_TRAFFIC, DATASETS, assertValidDefinition } from '../../src/pipeline/datasets';
import { clipWindow, parseIsoDate, resolveWindow, splitWindow, utcDate } from '../../src/pipeline/window';

const flags = { start: '--start-date', stop: '--stop-date' };
const today = '2024-01-15';

function inputErrorOn(field: string, message: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
    assert.equal(error.field, field);
    assert.match(error.message, message);
    return true;
  };
}

describe('first dates of the datasets', () => {
  test('traffic starts in 2010 and crossings in 2019', () => {
    assert.equal(BNT_HOURLY_TRAFFIC.firstDate, '2010-01-01');
    assert.equal(BNT_HOURLY_CROSSINGS.firstDate, '2019-01-01');
  });

  test('every first date is a calendar date', () => {
    for (const dataset of DATASETS) assert.doesNotThrow(() => parseIsoDate(dataset.firstDate, dataset.name));
  });

  test('a definition whose first date is not a calendar date is invalid', () => {
    assert.throws(
      () => assertValidDefinition({ ...BNT_HOURLY_TRAFFIC, firstDate: '2010-13-01' }),
      /firstDate "2010-13-01" is not a calendar date/,
    );
  });
});

describe('clipping a window to the dates a dataset has', () => {
  test('a window inside [first date, tomorrow) is kept as it is', () => {
    const window = { start: '2024-01-07', stop: '2024-01-14' };
    assert.deepEqual(clipWindow(window, '2010-01-01', today, flags), { window, clipped: false, requested: window });
  });

  test('a window ending tomorrow is not clipped: tomorrow is the exclusive stop that includes today', () => {
    const window = { start: '2024-01-10', stop: '2024-01-16' };
    assert.equal(clipWindow(window, '2010-01-01', today, flags).clipped, false);
  });

  test('1900..2100 becomes the whole history up to tomorrow, one short run instead of thousands of chunks', () => {
    const requested = { start: '1900-01-01', stop: '2100-01-01' };
    const result = clipWindow(requested, BNT_HOURLY_TRAFFIC.firstDate, today, flags);
    assert.deepEqual(result, { window: { start: '2010-01-01', stop: '2024-01-16' }, clipped: true, requested });
    assert.ok(splitWindow(result.window, 28).length < 200);
  });

  test('only the start is moved when the window begins before the first date', () => {
    const requested = { start: '2018-06-01', stop: '2019-02-01' };
    assert.deepEqual(clipWindow(requested, BNT_HOURLY_CROSSINGS.firstDate, today, flags).window, {
      start: '2019-01-01',
      stop: '2019-02-01',
    });
  });

  test('only the stop is moved when the window ends after tomorrow', () => {
    const requested = { start: '2024-01-01', stop: '2024-02-01' };
    assert.deepEqual(clipWindow(requested, '2010-01-01', today, flags).window, {
      start: '2024-01-01',
      stop: '2024-01-16',
    });
  });

  test('a window wholly before the first date is an input error naming the stop date', () => {
    assert.throws(
      () => clipWindow({ start: '2018-01-01', stop: '2019-01-01' }, '2019-01-01', today, flags),
      inputErrorOn(
        '--stop-date',
        /^--stop-date "2019-01-01" must be after 2019-01-01, the first date this dataset has/,
      ),
    );
  });

  test('a window wholly after today is an input error naming the start date', () => {
    assert.throws(
      () => clipWindow({ start: '2024-01-16', stop: '2024-02-01' }, '2010-01-01', today, flags),
      inputErrorOn('--start-date', /^--start-date "2024-01-16" is in the future.*2024-01-16, tomorrow in UTC/),
    );
  });

  test('without names the fields are called start and stop', () => {
    assert.throws(
      () => clipWindow({ start: '2000-01-01', stop: '2000-02-01' }, '2010-01-01', today),
      inputErrorOn('stop', /^stop "2000-02-01"/),
    );
  });

  test('today is the UTC date of the current time', () => {
    // 20:00 in New York on the 14th is already the 15th in UTC.
    assert.equal(utcDate(new Date('2024-01-14T20:00:00-05:00')), '2024-01-15');
  });
});

describe('years before 1000', () => {
  test('are refused as not supported, not as "not a calendar date", naming the flag', () => {
    for (const early of ['0000-01-01', '0099-12-31', '0999-06-15']) {
      assert.throws(
        () => resolveWindow({ start: early, stop: '2024-01-01' }, new Date('2024-01-15T12:00:00Z'), flags),
        inputErrorOn('--start-date', new RegExp(`^--start-date "${early}" is not supported: dates before year 1000`)),
      );
    }
  });

  test('year 1000 itself is a date like any other', () => {
    assert.equal(parseIsoDate('1000-01-01', 'x'), '1000-01-01');
  });
});
