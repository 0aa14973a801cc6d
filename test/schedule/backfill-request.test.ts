import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/common/errors';
import { parseBackfillRequest } from '../../src/schedule/backfill-request';

const valid = { dataset: 'bnt-hourly-traffic', startDate: '2024-01-01', stopDate: '2024-03-01' };

function refusal(body: unknown): { field: string; message: string } {
  try {
    parseBackfillRequest(body);
  } catch (error) {
    if (error instanceof InputError) return { field: error.field, message: error.message };
    throw error;
  }
  assert.fail('the request was accepted');
}

describe('a backfill request', () => {
  it('defaults to mode all, no dry run and four units at once', () => {
    assert.deepEqual(parseBackfillRequest(valid), {
      dataset: 'bnt-hourly-traffic',
      window: { start: '2024-01-01', stop: '2024-03-01' },
      mode: 'all',
      dryRun: false,
      maxConcurrency: 4,
    });
  });

  it('takes every optional field', () => {
    const request = parseBackfillRequest({ ...valid, mode: 'missing', dryRun: true, maxConcurrency: 16 });
    assert.equal(request.mode, 'missing');
    assert.equal(request.dryRun, true);
    assert.equal(request.maxConcurrency, 16);
  });

  it('is refused with the offending field named', () => {
    const cases: [unknown, string, RegExp][] = [
      [[valid], 'body', /JSON object/],
      ['text', 'body', /JSON object/],
      [{ ...valid, window: 'x' }, 'window', /unknown field "window"/],
      [{ startDate: '2024-01-01', stopDate: '2024-03-01' }, 'dataset', /bnt-hourly-traffic/],
      [{ ...valid, dataset: 'bnt-hourly-trafic' }, 'dataset', /not a known dataset/],
      [{ ...valid, startDate: 20240101 }, 'startDate', /YYYY-MM-DD/],
      [{ ...valid, startDate: '2024-02-30' }, 'startDate', /not a calendar date/],
      [{ ...valid, stopDate: '01/03/2024' }, 'stopDate', /YYYY-MM-DD/],
      [{ ...valid, stopDate: '2024-01-01' }, 'stopDate', /must be after startDate/],
      [{ ...valid, startDate: '2000-01-01', stopDate: '2025-01-02' }, 'stopDate', /longer than 25 years/],
      [{ ...valid, mode: 'everything' }, 'mode', /all, missing, failed/],
      [{ ...valid, dryRun: 'yes' }, 'dryRun', /true or false/],
      [{ ...valid, maxConcurrency: 0 }, 'maxConcurrency', /1 to 16/],
      [{ ...valid, maxConcurrency: 17 }, 'maxConcurrency', /1 to 16/],
      [{ ...valid, maxConcurrency: 2.5 }, 'maxConcurrency', /1 to 16/],
      [{ ...valid, maxConcurrency: '4' }, 'maxConcurrency', /1 to 16/],
    ];
    for (const [body, field, message] of cases) {
      const got = refusal(body);
      assert.equal(got.field, field, JSON.stringify(body));
      assert.match(got.message, message, JSON.stringify(body));
    }
  });

  it('accepts exactly 25 years', () => {
    assert.equal(
      parseBackfillRequest({ ...valid, startDate: '2000-01-01', stopDate: '2025-01-01' }).window.stop,
      '2025-01-01',
    );
  });
});
