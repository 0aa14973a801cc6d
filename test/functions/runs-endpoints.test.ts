import './support/core-standin';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpRequest } from '@azure/functions';
import { handleGetRun, handleListRuns, handleTerminateRun } from '../../src/functions/runs';
import { StandInDurableClient, type StoredInstance } from './support/durable-client';
import { MemoryLedger } from './support/memory-ledger';

const WEEK_ID = 'bnt-hourly-traffic_2026-11-15_2026-11-22';
const BACKFILL_ID = 'bnt-hourly-crossings_backfill-all_2024-01-01_2024-03-01';
const NOW = new Date('2026-11-30T09:00:00Z');

function get(path: string, params: Record<string, string> = {}): HttpRequest {
  return new HttpRequest({ method: 'GET', url: `https://bnt-func.azurewebsites.net/api/${path}`, params });
}

const deps = (ledger = new MemoryLedger()) => ({ ledger, now: () => NOW });

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
    const response = await handleGetRun(get(`runs/${WEEK_ID}`, { instanceId: WEEK_ID }), client, deps());
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
    const response = await handleGetRun(get(`runs/${BACKFILL_ID}`, { instanceId: BACKFILL_ID }), hub(), deps());
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

  it('answers a backfill’s units with their verdicts from the run ledger, asking only unrecorded units’ instances', async () => {
    const client = hub();
    const ledger = new MemoryLedger()
      .add({
        dataset: 'bnt-hourly-crossings',
        window: { start: '2024-01-01', stop: '2024-02-05' },
        status: 'completed',
        instanceId: `${BACKFILL_ID}_unit_2024-01-01_2024-02-05`,
        finishedAt: '2026-11-29T08:30:00.000Z',
      })
      // An earlier run of the same backfill id, before this one was created, does not count.
      .add({
        dataset: 'bnt-hourly-crossings',
        window: { start: '2024-02-05', stop: '2024-03-01' },
        status: 'completed',
        instanceId: `${BACKFILL_ID}_unit_2024-02-05_2024-03-01`,
        finishedAt: '2026-10-01T00:00:00.000Z',
      });
    const response = await handleGetRun(get(`runs/${BACKFILL_ID}`, { instanceId: BACKFILL_ID }), client, {
      ledger,
    });
    const answer = response.jsonBody as { units: { status: string }[]; unitPage: unknown };
    assert.deepEqual(
      answer.units.map((unit) => unit.status),
      ['completed', 'failed'],
    );
    assert.deepEqual(answer.unitPage, { offset: 0, limit: 100, total: 2 });
    assert.deepEqual(
      client.statusQueries.map((query) => query.instanceId),
      [BACKFILL_ID, `${BACKFILL_ID}_unit_2024-02-05_2024-03-01`],
    );
    assert.equal(ledger.listings, 1);
  });

  it('pages a long backfill’s units a hundred at a time, whatever its size', async () => {
    const client = hub();
    const units = Array.from({ length: 261 }, (_, index) => ({
      start: `2019-${String(1 + Math.floor(index / 28)).padStart(2, '0')}-${String(1 + (index % 28)).padStart(2, '0')}`,
      stop: `2019-${String(1 + Math.floor(index / 28)).padStart(2, '0')}-${String(2 + (index % 28)).padStart(2, '0')}`,
    }));
    const stored = client.instances.get(BACKFILL_ID) as StoredInstance;
    client.set(BACKFILL_ID, { ...stored, input: { ...(stored.input as object), plan: { units, batches: [] } } });
    const answer = async (query: string) =>
      (
        await handleGetRun(
          new HttpRequest({
            method: 'GET',
            url: `https://bnt-func.azurewebsites.net/api/runs/${BACKFILL_ID}${query}`,
            params: { instanceId: BACKFILL_ID },
          }),
          client,
          deps(),
        )
      ).jsonBody as { units: { start: string }[]; unitPage: unknown };
    const first = await answer('');
    assert.equal(first.units.length, 100);
    assert.deepEqual(first.unitPage, { offset: 0, limit: 100, total: 261, next: 100 });
    const last = await answer('?unitOffset=200');
    assert.equal(last.units.length, 61);
    assert.equal(last.units[0]?.start, units[200]?.start);
    assert.deepEqual(last.unitPage, { offset: 200, limit: 100, total: 261 });
    const refused = await handleGetRun(
      new HttpRequest({
        method: 'GET',
        url: `https://bnt-func.azurewebsites.net/api/runs/${BACKFILL_ID}?unitOffset=-1`,
        params: { instanceId: BACKFILL_ID },
      }),
      client,
      deps(),
    );
    assert.equal(refused.status, 400);
    assert.equal((refused.jsonBody as { error: { field: string } }).error.field, 'unitOffset');
  });

  it('answers 404 for a run the task hub does not know', async () => {
    const response = await handleGetRun(
      get('runs/nope', { instanceId: 'bnt-hourly-traffic_2020-01-05_2020-01-12' }),
      hub(),
      deps(),
    );
    assert.equal(response.status, 404);
    assert.equal((response.jsonBody as { error: { field: string } }).error.field, 'instanceId');
  });

  it('answers 400 for an id that could change the status request’s path, asking nothing', async () => {
    const client = hub();
    for (const instanceId of ['../admin', 'a/b', 'x'.repeat(200), '', 'id?x=1']) {
      const response = await handleGetRun(get('runs/x', { instanceId }), client, deps());
      assert.equal(response.status, 400, instanceId);
      assert.equal((response.jsonBody as { error: { field: string } }).error.field, 'instanceId');
    }
    assert.equal(client.statusQueries.length, 0);
  });

  it('passes on a task hub failure instead of calling the run unknown', async () => {
    const client = hub();
    client.unavailable = true;
    await assert.rejects(handleGetRun(get(`runs/${WEEK_ID}`, { instanceId: WEEK_ID }), client, deps()), /500/);
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
    const ledger = new MemoryLedger().add({
      dataset: 'bnt-hourly-crossings',
      window: { start: '2024-02-05', stop: '2024-03-01' },
      status: 'failed',
      instanceId: `${BACKFILL_ID}_unit_2024-02-05_2024-03-01`,
      finishedAt: '2026-11-29T09:00:00.000Z',
    });
    const response = await handleTerminateRun(post(BACKFILL_ID), client, deps(ledger));
    assert.equal(response.status, 202);
    const unit = `${BACKFILL_ID}_unit_2024-01-01_2024-02-05`;
    assert.deepEqual(response.jsonBody, {
      instanceId: BACKFILL_ID,
      terminated: [BACKFILL_ID, unit],
      recordedFailed: 1,
    });
    const entries = await ledger.entries('bnt-hourly-crossings');
    assert.deepEqual(
      entries.map((entry) => [entry.instanceId, entry.status, entry.finishedAt]),
      [
        [`${BACKFILL_ID}_unit_2024-02-05_2024-03-01`, 'failed', '2026-11-29T09:00:00.000Z'],
        [unit, 'failed', NOW.toISOString()],
      ],
      'the unit it stopped before its verdict is recorded failed, so a failed backfill or the timer redoes it',
    );
    assert.match(ledger.records.get(entries[1]?.path ?? '')?.error?.message ?? '', /terminated through POST/);
    assert.deepEqual(
      client.terminated.map((call) => call.instanceId),
      [BACKFILL_ID, unit],
      'the backfill first, so no unit’s end reaches it; the finished unit is left alone',
    );
    assert.equal(client.instances.get(unit)?.runtimeStatus, 'Terminated');
  });

  it('stops a weekly window, recording it failed', async () => {
    const client = hub();
    const ledger = new MemoryLedger();
    const response = await handleTerminateRun(post(WEEK_ID), client, deps(ledger));
    assert.equal(response.status, 202);
    assert.deepEqual(
      (await ledger.entries('bnt-hourly-traffic')).map((entry) => [entry.window, entry.instanceId, entry.status]),
      [[{ start: '2026-11-15', stop: '2026-11-22' }, WEEK_ID, 'failed']],
    );
    assert.deepEqual(
      client.terminated.map((call) => call.instanceId),
      [WEEK_ID],
    );
  });

  it('answers 409 for a run that is not running, and 404 or 400 as the status endpoint does, stopping nothing', async () => {
    const client = hub();
    const finished = await handleTerminateRun(post('bnt-hourly-crossings_2026-11-15_2026-11-22'), client, deps());
    assert.equal(finished.status, 409);
    assert.match((finished.jsonBody as { error: { message: string } }).error.message, /failed, not running/);
    assert.equal(
      (await handleTerminateRun(post('bnt-hourly-traffic_2020-01-05_2020-01-12'), client, deps())).status,
      404,
    );
    assert.equal((await handleTerminateRun(post('../x'), client, deps())).status, 400);
    assert.deepEqual(client.terminated, []);
  });
});
