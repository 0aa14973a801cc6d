import './support/core-standin';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpRequest } from '@azure/functions';
import { handleGetRun, handleListRuns, handleTerminateRun } from '../../src/functions/runs';
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
        plan: {
          units: [
            { start: '2024-01-01', stop: '2024-02-05' },
            { start: '2024-02-05', stop: '2024-03-01' },
          ],
          batches: [[0, 1]],
        },
      },
      customStatus: {
        step: 'stage',
        units: { total: 2, pending: 0, staging: 1, staged: 0, loaded: 0, completed: 0, stale: 0, failed: 1 },
        counts: { fetched: 192_500, staged: 192_500, quarantined: 0, rowsInWindow: 192_500 },
        failures: [{ unit: '2024-02-05_2024-03-01', step: 'stage', kind: 'transient', message: 'HTTP 503' }],
      },
      createdTime: '2026-11-29T08:00:00Z',
    })
    .set(`${BACKFILL_ID}_unit_2024-01-01_2024-02-05`, {
      name: 'backfillUnitOrchestrator',
      runtimeStatus: 'Running',
      createdTime: '2026-11-29T08:00:01Z',
    })
    .set(`${BACKFILL_ID}_unit_2024-02-05_2024-03-01`, {
      name: 'backfillUnitOrchestrator',
      runtimeStatus: 'Completed',
      output: { ok: false, error: { kind: 'transient', message: 'HTTP 503' } },
      createdTime: '2026-11-29T08:00:01Z',
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

  it('answers a running backfill with each unit of its plan and where that unit’s own instance is', async () => {
    const response = await handleGetRun(get(`runs/${BACKFILL_ID}`, { instanceId: BACKFILL_ID }), hub());
    assert.equal(response.status, 200);
    const answer = response.jsonBody as { mode: string; units: unknown[] };
    assert.equal(answer.mode, 'all');
    assert.deepEqual(answer.units, [
      {
        start: '2024-01-01',
        stop: '2024-02-05',
        instanceId: `${BACKFILL_ID}_unit_2024-01-01_2024-02-05`,
        status: 'staging',
      },
      {
        start: '2024-02-05',
        stop: '2024-03-01',
        instanceId: `${BACKFILL_ID}_unit_2024-02-05_2024-03-01`,
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

  it('lists recent runs newest first, reading only the last weeks of the task hub, a page at a time', async () => {
    const { client, response } = await list('?kind=window');
    assert.equal(response.status, 200);
    assert.deepEqual(ids(response), ['bnt-hourly-crossings_2026-11-15_2026-11-22', WEEK_ID]);
    assert.deepEqual(
      client.listQueries.map((query) => query.query),
      [{ createdTimeFrom: new Date('2026-10-26T09:00:00Z') }],
    );
    assert.ok(client.statusQueries.length === 0, 'no instance read one by one');
  });

  it('reads every page of the lookback period before choosing the newest', async () => {
    const client = hub();
    for (let day = 1; day <= 250; day++) {
      const date = `2026-11-${String(1 + (day % 28)).padStart(2, '0')}`;
      client.set(`bnt-hourly-traffic_2020-01-01_2020-01-${String(1 + (day % 28)).padStart(2, '0')}-${day}`, {
        name: 'windowOrchestrator',
        runtimeStatus: 'Completed',
        createdTime: `${date}T00:00:00Z`,
      });
    }
    const { response } = await list('?kind=backfill', client);
    assert.deepEqual(ids(response), [BACKFILL_ID]);
    assert.equal(client.listQueries.length, 3, '256 instances in pages of 100');
    assert.deepEqual(
      client.listQueries.map((query) => query.continuationToken),
      [undefined, '100', '200'],
    );
  });

  it('filters by dataset, kind and runtime status, and returns at most top runs', async () => {
    assert.deepEqual(ids((await list('?dataset=bnt-hourly-traffic')).response), [WEEK_ID]);
    assert.deepEqual(ids((await list('?kind=backfill')).response), [BACKFILL_ID]);
    assert.deepEqual(ids((await list('?top=1')).response), [`${BACKFILL_ID}_unit_2024-01-01_2024-02-05`]);
    const { client, response } = await list('?status=failed');
    assert.deepEqual(ids(response), ['bnt-hourly-crossings_2026-11-15_2026-11-22']);
    assert.deepEqual(client.listQueries[0]?.query.runtimeStatus, ['Failed']);
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
      assert.equal(client.listQueries.length, 0);
    }
  });
});

describe('POST /api/runs/{instanceId}/terminate', () => {
  const post = (instanceId: string) =>
    new HttpRequest({
      method: 'POST',
      url: `https://bnt-func.azurewebsites.net/api/runs/${instanceId}/terminate`,
      params: { instanceId },
    });

  it('stops a backfill, then each of its units still running, and answers 202 naming them', async () => {
    const client = hub();
    const response = await handleTerminateRun(post(BACKFILL_ID), client);
    assert.equal(response.status, 202);
    const unit = `${BACKFILL_ID}_unit_2024-01-01_2024-02-05`;
    assert.deepEqual(response.jsonBody, { instanceId: BACKFILL_ID, terminated: [BACKFILL_ID, unit] });
    assert.deepEqual(
      client.terminated.map((call) => call.instanceId),
      [BACKFILL_ID, unit],
      'the backfill first, so no unit’s end reaches it; the finished unit is left alone',
    );
    assert.equal(client.instances.get(unit)?.runtimeStatus, 'Terminated');
  });

  it('stops a weekly window', async () => {
    const client = hub();
    const response = await handleTerminateRun(post(WEEK_ID), client);
    assert.equal(response.status, 202);
    assert.deepEqual(
      client.terminated.map((call) => call.instanceId),
      [WEEK_ID],
    );
  });

  it('answers 409 for a run that is not running, and 404 or 400 as the status endpoint does, stopping nothing', async () => {
    const client = hub();
    const finished = await handleTerminateRun(post('bnt-hourly-crossings_2026-11-15_2026-11-22'), client);
    assert.equal(finished.status, 409);
    assert.match((finished.jsonBody as { error: { message: string } }).error.message, /failed, not running/);
    assert.equal((await handleTerminateRun(post('bnt-hourly-traffic_2020-01-05_2020-01-12'), client)).status, 404);
    assert.equal((await handleTerminateRun(post('../x'), client)).status, 400);
    assert.deepEqual(client.terminated, []);
  });
});
