import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/common/errors';
import { DATASETS } from '../../src/pipeline/datasets';
import { rowsPerDay, weeklyDatasets } from '../../src/schedule/datasets';

describe('the weekly datasets setting', () => {
  it('defaults to every built-in dataset: the original for its table, the successor for live data', () => {
    assert.deepEqual(weeklyDatasets(undefined), ['bnt-hourly-traffic', 'bnt-hourly-crossings']);
    assert.deepEqual(weeklyDatasets('  '), ['bnt-hourly-traffic', 'bnt-hourly-crossings']);
  });

  it('takes a comma list, trimmed and without repeats', () => {
    assert.deepEqual(weeklyDatasets(' bnt-hourly-crossings , bnt-hourly-crossings'), ['bnt-hourly-crossings']);
  });

  it('refuses an unknown name, naming BNT_DATASETS and the known datasets', () => {
    assert.throws(
      () => weeklyDatasets('bnt-hourly-traffic,bnt-hourly-trafic'),
      (error: unknown) =>
        error instanceof InputError &&
        error.field === 'BNT_DATASETS' &&
        error.message.includes('"bnt-hourly-trafic"') &&
        error.message.includes('bnt-hourly-crossings'),
    );
  });

  it('refuses an empty entry', () => {
    assert.throws(
      () => weeklyDatasets('bnt-hourly-traffic,,'),
      (error: unknown) => error instanceof InputError && error.field === 'BNT_DATASETS',
    );
  });
});

describe('rows per day', () => {
  it('has an estimate for every built-in dataset', () => {
    for (const dataset of DATASETS) assert.ok(rowsPerDay(dataset.name) > 0, dataset.name);
  });

  it('says which dataset has no estimate', () => {
    assert.throws(() => rowsPerDay('bnt-new'), /bnt-new/);
  });
});
