import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/common/errors';
import { parseListQuery } from '../../src/schedule/list-query';

const query = (text: string) => parseListQuery(new URLSearchParams(text));

describe('the run list query', () => {
  it('defaults to the 20 newest runs of every kind, dataset and status', () => {
    assert.deepEqual(query(''), { top: 20 });
  });

  it('takes a dataset, a runtime status in any case, a kind and a top; ignores the function key', () => {
    assert.deepEqual(query('dataset=bnt-hourly-crossings&status=failed&kind=backfill&top=100&code=secret'), {
      dataset: 'bnt-hourly-crossings',
      status: 'Failed',
      kind: 'backfill',
      top: 100,
    });
  });

  it('is refused with the parameter named', () => {
    const cases: [string, string][] = [
      ['top=0', 'top'],
      ['top=101', 'top'],
      ['top=ten', 'top'],
      ['top=5.5', 'top'],
      ['status=Done', 'status'],
      ['dataset=nope', 'dataset'],
      ['kind=weekly', 'kind'],
      ['limit=5', 'limit'],
    ];
    for (const [text, field] of cases) {
      assert.throws(
        () => query(text),
        (error: unknown) => error instanceof InputError && error.field === field,
        text,
      );
    }
  });
});
