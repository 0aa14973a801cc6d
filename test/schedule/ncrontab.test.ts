import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Crontab,
  CrontabError,
  nextOccurrence,
  occurrenceAtOrBefore,
  parseCrontab,
} from '../../src/schedule/ncrontab';

const at = (iso: string) => new Date(iso);

describe('NCRONTAB expressions, read as NCrontab reads them', () => {
  it('refuses what NCrontab refuses: five or seven fields, ?, L, W, #, H, day of week 7, values out of range', () => {
    const refused: [string, RegExp][] = [
      ['0 12 * * 1', /5 fields/],
      ['0 0 12 * * 1 2026', /7 fields/],
      ['', /0 fields/],
      ['0 0 12 ? * 1', /day field/],
      ['0 0 12 * * ?', /day-of-week field/],
      ['0 0 12 L * *', /day field/],
      ['0 0 12 * * 5L', /day-of-week field/],
      ['0 0 12 15W * *', /day field/],
      ['0 0 12 * * 1#2', /day-of-week field/],
      ['H 0 12 * * 1', /second field/],
      ['0 0 12 * * 7', /7 is outside 0–6/],
      ['60 0 12 * * 1', /60 is outside 0–59/],
      ['0 0 24 * * 1', /24 is outside 0–23/],
      ['0 0 12 0 * *', /0 is outside 1–31/],
      ['0 0 12 * 13 *', /13 is outside 1–12/],
      ['0 0 12 * * Funday', /not a known name/],
      ['0 0 12 * * 1,', /empty/],
      ['0 0 12 * * ,1', /day-of-week field/],
      ['0 0 12 * * 1-', /empty/],
      ['0 0 12 * * -1', /day-of-week field/],
      ['0 */ 12 * * 1', /whole number/],
      ['0 1/2/3 12 * * 1', /whole number/],
      ['0 0 12 1-2-3 * *', /whole number/],
      ['0 0 12 * * **', /day-of-week field/],
      ['0 0 99999999999 * * *', /whole number/],
      ['0 0 12 30 2 *', /never fire/],
      ['0 0 12 31 4,6,9,11 *', /never fire/],
    ];
    for (const [expression, reason] of refused) {
      assert.throws(
        () => parseCrontab(expression),
        (error: unknown) => error instanceof CrontabError && reason.test(error.message),
        expression,
      );
    }
  });

  it('accepts what NCrontab accepts, with its readings of names, steps and reversed ranges', () => {
    const cases: [string, Partial<Record<keyof Crontab, number[]>>][] = [
      ['0 0 12 * * 1', { seconds: [0], minutes: [0], hours: [12], daysOfWeek: [1] }],
      ['0 0 12 * * Mon', { daysOfWeek: [1] }],
      ['0 0 12 * * MONDAY', { daysOfWeek: [1] }],
      // The first name a prefix begins: W is Wednesday (not a Quartz "weekday"), T Tuesday, S Sunday.
      ['0 0 12 * * W', { daysOfWeek: [3] }],
      ['0 0 12 * * T,S', { daysOfWeek: [0, 2] }],
      ['0 0 12 * M *', { months: [3] }],
      ['0 0 12 * Ju *', { months: [6] }],
      ['0 0 12 * * Mon-Fri', { daysOfWeek: [1, 2, 3, 4, 5] }],
      ['0 0 12 * * 5-1', { daysOfWeek: [1, 2, 3, 4, 5] }],
      ['*/15 0 12 * * 1', { seconds: [0, 15, 30, 45] }],
      ['0 10/20 12 * * 1', { minutes: [10, 30, 50] }],
      ['0 0 1-9/4 * * 1', { hours: [1, 5, 9] }],
      ['0 0 12 */0 * *', { days: Array.from({ length: 31 }, (_, i) => i + 1) }],
      ['0 0 12 * * */-2', { daysOfWeek: [0, 1, 2, 3, 4, 5, 6] }],
      ['0 0 12 * * */+2', { daysOfWeek: [0, 2, 4, 6] }],
      ['0 0 12 * * 1,1,3', { daysOfWeek: [1, 3] }],
      ['0 0 012 * * 01', { hours: [12], daysOfWeek: [1] }],
      ['0  0   12 * * 1', { hours: [12] }],
      ['0 0 12 * * 1\t', { daysOfWeek: [1] }],
    ];
    for (const [expression, expected] of cases) {
      const crontab = parseCrontab(expression);
      for (const [field, values] of Object.entries(expected)) {
        assert.deepEqual(crontab[field as keyof Crontab], values, `${expression}: ${field}`);
      }
    }
    assert.equal(parseCrontab('0  0   12 * * 1').expression, '0 0 12 * * 1');
  });
});

describe('occurrences, computed as NCrontab computes them (UTC)', () => {
  // [expression, reference time, NCrontab's next occurrence after it, the latest occurrence at or before it]
  const table: [string, string, string, string][] = [
    ['0 0 12 * * 1', '2026-11-25T08:00:00Z', '2026-11-30T12:00:00Z', '2026-11-23T12:00:00Z'],
    ['0 0 12 * * 1', '2026-11-23T12:00:00Z', '2026-11-30T12:00:00Z', '2026-11-23T12:00:00Z'],
    ['0 0 12 * * 1', '2026-11-23T11:59:59.999Z', '2026-11-23T12:00:00Z', '2026-11-16T12:00:00Z'],
    // NCrontab works in whole seconds: half a second past the occurrence is not before it.
    ['0 0 12 * * 1', '2026-11-23T12:00:00.500Z', '2026-11-30T12:00:00Z', '2026-11-23T12:00:00Z'],
    ['0 30 6 * * *', '2026-11-23T06:29:00Z', '2026-11-23T06:30:00Z', '2026-11-22T06:30:00Z'],
    ['*/15 * * * * *', '2026-01-01T00:00:14Z', '2026-01-01T00:00:15Z', '2026-01-01T00:00:00Z'],
    ['0 0 0 * * *', '2026-12-31T23:59:59Z', '2027-01-01T00:00:00Z', '2026-12-31T00:00:00Z'],
    // Day of month AND day of week: the 13th that is a Friday (cron-parser would take either).
    ['0 0 9 13 * 5', '2026-01-01T00:00:00Z', '2026-02-13T09:00:00Z', '2025-06-13T09:00:00Z'],
    // The 31st: months without one are skipped.
    ['0 0 0 31 * *', '2026-04-15T00:00:00Z', '2026-05-31T00:00:00Z', '2026-03-31T00:00:00Z'],
    // The 29th of February, on a Monday: once in decades.
    ['0 0 0 29 2 1', '2026-01-01T00:00:00Z', '2044-02-29T00:00:00Z', '2016-02-29T00:00:00Z'],
    ['0 0 12 * * W', '2026-11-23T00:00:00Z', '2026-11-25T12:00:00Z', '2026-11-18T12:00:00Z'],
    ['59 59 23 31 12 *', '2026-06-01T00:00:00Z', '2026-12-31T23:59:59Z', '2025-12-31T23:59:59Z'],
  ];

  for (const [expression, reference, next, previous] of table) {
    it(`${expression} at ${reference}: next ${next}, previous ${previous}`, () => {
      const crontab = parseCrontab(expression);
      assert.deepEqual(nextOccurrence(crontab, at(reference)), at(next));
      assert.deepEqual(occurrenceAtOrBefore(crontab, at(reference)), at(previous));
    });
  }

  it('agrees with a second-by-second search for assorted expressions', () => {
    const expressions = ['*/7 */13 * * * *', '0 0 */5 * * Tue-Thu', '30 15 10 28,29 * *', '0 0 0 * Feb,Mar 0,4'];
    const start = at('2028-02-27T00:00:00Z').getTime();
    for (const expression of expressions) {
      const crontab = parseCrontab(expression);
      const matches = (t: number) => {
        const d = new Date(t);
        return (
          crontab.seconds.includes(d.getUTCSeconds()) &&
          crontab.minutes.includes(d.getUTCMinutes()) &&
          crontab.hours.includes(d.getUTCHours()) &&
          crontab.days.includes(d.getUTCDate()) &&
          crontab.months.includes(d.getUTCMonth() + 1) &&
          crontab.daysOfWeek.includes(d.getUTCDay())
        );
      };
      // Reference points across three days around a leap day; the answer found a second at a time.
      for (let t = start; t < start + 3 * 86_400_000; t += 3_600_007) {
        let expected = Math.floor(t / 1000) * 1000 + 1000;
        while (!matches(expected)) expected += 1000;
        assert.equal(
          nextOccurrence(crontab, new Date(t))?.getTime(),
          expected,
          `${expression} after ${new Date(t).toISOString()}`,
        );
      }
    }
  });
});
