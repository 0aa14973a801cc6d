import './support/core-standin';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpRequest } from '@azure/functions';
import { handleGetRun, handleListRuns } from '../../src/functions/runs';
import { StandInDurableClient } from './support/durable-client';

const WEEK_ID = 'bnt-hourly-traffic_2026-11-15_2026-11-22';
const BACKFILL_ID = 'bnt-hourly-crossings_backfill-all_2024-01-01_2024-03-01';
const NOW = new Date('2026-11-30T09:00:00Z');

function get(path: string, params: Record<string, string> = {}): HttpRequest {
  return new HttpRequest({ method: 'GET', url: `https://bnt-func.azurewebsites.net/api/${path}`, params });
}

function hub(): StandInDurableClient {
  return new StandInDurableClient()
    .set(WEEK_ID, {
      name: 'windowOrchestrator',
      runtimeStatus: 'Running',
      input: { dataset: 'bnt-hourly-traffic', window: { start: '2026-11-15', stop: '2026-11-22' } },
      customStatus: { step: 'verify', counts: { fetched: 3_360, staged: 3_360, quarantined: 0 } },
      createdTime: '2026-11-23T12:00:01Z',
    })
    .set(BACKFILL_ID, {
      name: 'backfillOrchestrator',
      runtimeStatus: 'Running',
      input: {
        dataset: 'bnt-hourly-crossings',
        window: { start: '2024-01-01', stop: '2024-03-01' },
        mode: 'all',
        maxConcurrency: 4,
      },
      customStatus: {
        step: 'stage',
        units: { '2024-01-01_2024-02-05': 'completed', '2024-02-05_2024-03-01': 'failed' },
        counts: { fetched: 192_500, staged: 192_500, quarantined: 0, rowsInWindow: 192_500 },
        failures: [{ unit: '2024-02-05_2024-03-01', step: 'stage', kind: 'transient', message: 'HTTP 503' }],
      },
      createdTime: '2026-11-29T08:00:00Z',
    })
    .set('bnt-hourly-crossings_2026-11-15_2026-11-22', {
      name: 'windowOrchestrator',
      runtimeStatus: 'Failed',
      createdTime: '2026-11-23T12:00:02Z',
    })
    .set('bnt-hourly-traffic_2026-09-13_2026-09-20', {
      name: 'windowOrchestrator',
      runtimeStatus: 'Completed',
      createdTime: '2026-09-21T12:00:00Z',
    });
}

describe('GET /api/runs/{instanceId}', () => {
  it('answers a window’s runtime status, window, step and counts so far', async () => {
    const client = hub();
    const response = await handleGetRun(get(`runs/${WEEK_ID}`, { instanceId: WEEK_ID }), client);
    assert.equal(response.status, 200);
    assert.deepEqual(response.jsonBody, {
      instanceId: WEEK_ID,
      kind: 'window',
      orchestration: 'windowOrchestrator',
      runtimeStatus: 'Running',
      dataset: 'bnt-hourly-traffic',
      window: { start: '2026-11-15', stop: '2026-11-22' },
      createdTime: '2026-11-23T12:00:01.000Z',
      lastUpdatedTime: '2026-11-23T12:00:01.000Z',
      step: 'verify',
      counts: { fetched: 3_360, staged: 3_360, quarantined: 0 },
      result: null,
      error: null,
    });
    assert.deepEqual(client.statusQueries, [{ instanceId: WEEK_ID, options: { showInput: true } }]);
  });

  it('answers a backfill with the status of each unit', async () => {
    const response = await handleGetRun(get(`runs/${BACKFILL_ID}`, { instanceId: BACKFILL_ID }), hub());
    assert.equal(response.status, 200);
    const answer = response.jsonBody as { mode: string; units: unknown[] };
    assert.equal(answer.mode, 'all');
    assert.deepEqual(answer.units, [
      {
        start: '2024-01-01',
        stop: '2024-02-05',
        instanceId: 'bnt-hourly-crossings_unit_2024-01-01_2024-02-05',
        status: 'completed',
      },
      {
        start: '2024-02-05',
        stop: '2024-03-01',
        instanceId: 'bnt-hourly-crossings_unit_2024-02-05_2024-03-01',
        status: 'failed',
      },
    ]);
  });

  it('answers 404 for a run the task hub does not know', async () => {
    const response = await handleGetRun(
      get('runs/nope', { instanceId: 'bnt-hourly-traffic_2020-01-05_2020-01-12' }),
      hub(),
    );
    assert.equal(response.status, 404);
    assert.equal((response.jsonBody as { error: { field: string } }).error.field, 'instanceId');
  });

  it('answers 400 for an id that could change the status request’s path, asking nothing', async () => {
    const client = hub();
    for (const instanceId of ['../admin', 'a/b', 'x'.repeat(200), '', 'id?x=1']) {
      const response = await handleGetRun(get('runs/x', { instanceId }), client);
      assert.equal(response.status, 400, instanceId);
      assert.equal((response.jsonBody as { error: { field: string } }).error.field, 'instanceId');
    }
    assert.equal(client.statusQueries.length, 0);
  });

  it('passes on a task hub failure instead of calling the run unknown', async () => {
    const client = hub();
    client.unavailable = true;
    await assert.rejects(handleGetRun(get(`runs/${WEEK_ID}`, { instanceId: WEEK_ID }), client), /500/);
  });
});

describe('GET /api/runs', () => {
  const list = async (query: string, client = hub()) => ({
    client,
    response: await handleListRuns(get(`runs${query}`), client, () => NOW),
  });
  const ids = (response: { jsonBody?: unknown }) =>
    (response.jsonBody as { runs: { instanceId: string }[] }).runs.map((run) => run.instanceId);

  it('lists recent runs newest first, reading only the last weeks of the task hub', async () => {
    const { client, response } = await list('');
    assert.equal(response.status, 200);
    assert.deepEqual(ids(response), [BACKFILL_ID, 'bnt-hourly-crossings_2026-11-15_2026-11-22', WEEK_ID]);
    assert.deepEqual(client.listFilters, [{ createdTimeFrom: new Date('2026-10-26T09:00:00Z') }]);
  });

  it('filters by dataset, kind and runtime status, and returns at most top runs', async () => {
    assert.deepEqual(ids((await list('?dataset=bnt-hourly-traffic')).response), [WEEK_ID]);
    assert.deepEqual(ids((await list('?kind=backfill')).response), [BACKFILL_ID]);
    assert.deepEqual(ids((await list('?top=1')).response), [BACKFILL_ID]);
    const { client, response } = await list('?status=failed');
    assert.deepEqual(ids(response), ['bnt-hourly-crossings_2026-11-15_2026-11-22']);
    assert.deepEqual(client.listFilters[0]?.runtimeStatus, ['Failed']);
  });

  it('answers 400 naming the parameter, reading nothing', async () => {
    for (const [query, field] of [
      ['?top=0', 'top'],
      ['?top=1000', 'top'],
      ['?status=Broken', 'status'],
      ['?dataset=other', 'dataset'],
      ['?since=2026-01-01', 'since'],
    ]) {
      const { client, response } = await list(query ?? '');
      assert.equal(response.status, 400, query);
      assert.equal((response.jsonBody as { error: { field: string } }).error.field, field, query);
      assert.equal(client.listFilters.length, 0);
    }
  });
});
