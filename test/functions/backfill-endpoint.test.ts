import './support/core-standin';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { BACKFILL_ORCHESTRATOR } from '../../src/functions/backfillOrchestrator';
import { type BackfillDeps, handleBackfill } from '../../src/functions/startBackfill';
import type { Window } from '../../src/pipeline/window';
import { planUnits, splitUnits } from '../../src/schedule/backfill-plan';
import { backfillInstanceId } from '../../src/schedule/instances';
import { StandInDurableClient } from './support/durable-client';
import { MemoryLedger } from './support/memory-ledger';

const TRAFFIC = 'bnt-hourly-traffic';
const CROSSINGS = 'bnt-hourly-crossings';
const HISTORY = { start: '2010-01-01', stop: '2025-06-01' };
const NOW = new Date('2026-11-30T09:00:00Z');

function post(body: unknown): HttpRequest {
  return new HttpRequest({
    method: 'POST',
    url: 'https://bnt-func.azurewebsites.net/api/backfill',
    body: { string: typeof body === 'string' ? body : JSON.stringify(body) },
  });
}

interface Harness {
  readonly client: StandInDurableClient;
  readonly deps: BackfillDeps;
  readonly planned: { dataset: string; batches: readonly (readonly Window[])[] }[];
  readonly missingAsked: Window[];
  readonly ledger: MemoryLedger;
}

function harness(missing: readonly Window[] = []): Harness {
  const planned: Harness['planned'] = [];
  const missingAsked: Window[] = [];
  const ledger = new MemoryLedger();
  return {
    client: new StandInDurableClient(),
    planned,
    missingAsked,
    ledger,
    deps: {
      ledger,
      findMissing: async (_dataset, window) => {
        missingAsked.push(window);
        return missing;
      },
      planLoads: async (input) => {
        planned.push(input);
        return input.batches.map((batch) => `MERGE INTO bronze.t USING (${batch.length} units) …`);
      },
      log: () => {},
      now: () => NOW,
    },
  };
}

function body(response: HttpResponseInit): any {
  return response.jsonBody;
}

describe('POST /api/backfill', () => {
  it('answers 400 naming the field for every invalid body, and starts nothing', async () => {
    const valid = { dataset: TRAFFIC, startDate: '2024-01-01', stopDate: '2024-03-01' };
    const cases: [unknown, string][] = [
      ['', 'body'],
      ['{"dataset":', 'body'],
      [[valid], 'body'],
      [{ ...valid, extra: true }, 'extra'],
      [{ startDate: '2024-01-01', stopDate: '2024-03-01' }, 'dataset'],
      [{ ...valid, dataset: 'bnt-hourly' }, 'dataset'],
      [{ ...valid, startDate: '2024-13-01' }, 'startDate'],
      [{ ...valid, stopDate: '2024' }, 'stopDate'],
      [{ ...valid, stopDate: '2023-12-31' }, 'stopDate'],
      [{ ...valid, startDate: '1990-01-01' }, 'stopDate'],
      [{ ...valid, mode: 'some' }, 'mode'],
      [{ ...valid, dryRun: 1 }, 'dryRun'],
      [{ ...valid, maxConcurrency: 0 }, 'maxConcurrency'],
      [{ ...valid, maxConcurrency: 17 }, 'maxConcurrency'],
    ];
    for (const [input, field] of cases) {
      const { client, deps } = harness();
      const response = await handleBackfill(post(input), client, deps);
      assert.equal(response.status, 400, JSON.stringify(input));
      assert.equal(body(response).error.field, field, JSON.stringify(input));
      assert.equal(typeof body(response).error.message, 'string');
      assert.equal(client.starts.length, 0);
      assert.equal(client.statusQueries.length, 0, 'not even a look-up before the request is valid');
    }
  });

  it('answers 202 with the instance id and our own status URL, and starts the backfill', async () => {
    const { client, deps } = harness();
    const response = await handleBackfill(
      post({ dataset: TRAFFIC, startDate: HISTORY.start, stopDate: HISTORY.stop }),
      client,
      deps,
    );
    const instanceId = backfillInstanceId(TRAFFIC, HISTORY, 'all');
    assert.equal(response.status, 202);
    assert.deepEqual(body(response), {
      instanceId,
      statusUrl: `https://bnt-func.azurewebsites.net/api/runs/${instanceId}`,
      dataset: TRAFFIC,
      window: HISTORY,
      mode: 'all',
      maxConcurrency: 4,
      units: 3,
      estimatedRequests: 59,
      merges: 3,
    });
    assert.deepEqual(response.headers, { Location: `https://bnt-func.azurewebsites.net/api/runs/${instanceId}` });
    assert.deepEqual(client.starts, [
      {
        name: BACKFILL_ORCHESTRATOR,
        instanceId,
        input: {
          dataset: TRAFFIC,
          window: HISTORY,
          mode: 'all',
          maxConcurrency: 4,
          plan: planUnits(TRAFFIC, [HISTORY]),
        },
      },
    ]);
    assert.doesNotMatch(JSON.stringify(response), /webhooks|systemKey|code=/i, 'never the Durable system-key URLs');
  });

  it('starts a completed backfill again when asked again', async () => {
    const { client, deps } = harness();
    const window = { start: '2024-01-01', stop: '2024-03-01' };
    client.set(backfillInstanceId(CROSSINGS, window, 'all'), {
      name: BACKFILL_ORCHESTRATOR,
      runtimeStatus: 'Completed',
    });
    const response = await handleBackfill(
      post({ dataset: CROSSINGS, startDate: window.start, stopDate: window.stop }),
      client,
      deps,
    );
    assert.equal(response.status, 202);
    assert.equal(client.starts.length, 1);
  });

  it('answers 409 when the same backfill is running, with its status URL, and starts nothing', async () => {
    const { client, deps } = harness();
    const window = { start: '2024-01-01', stop: '2024-03-01' };
    const instanceId = backfillInstanceId(CROSSINGS, window, 'all');
    client.set(instanceId, { name: BACKFILL_ORCHESTRATOR, runtimeStatus: 'Running' });
    const response = await handleBackfill(
      post({ dataset: CROSSINGS, startDate: window.start, stopDate: window.stop }),
      client,
      deps,
    );
    assert.equal(response.status, 409);
    assert.equal(body(response).instanceId, instanceId);
    assert.match(body(response).error.message, /already running/);
    assert.equal(client.starts.length, 0);
  });

  it('answers 409 when another request started the same backfill a moment earlier', async () => {
    const { client, deps } = harness();
    const window = { start: '2024-01-01', stop: '2024-03-01' };
    client.beforeStart = (instanceId) =>
      client.set(instanceId, { name: BACKFILL_ORCHESTRATOR, runtimeStatus: 'Running' });
    const response = await handleBackfill(
      post({ dataset: CROSSINGS, startDate: window.start, stopDate: window.stop }),
      client,
      deps,
    );
    assert.equal(response.status, 409);
    assert.match(body(response).error.message, /race/);
  });

  it('answers a dry run with 200: units, estimated requests, MERGE batches and their statements; starts nothing', async () => {
    const { client, deps, planned } = harness();
    const response = await handleBackfill(
      post({ dataset: TRAFFIC, startDate: HISTORY.start, stopDate: HISTORY.stop, dryRun: true }),
      client,
      deps,
    );
    assert.equal(response.status, 200);
    const answer = body(response);
    assert.equal(answer.dryRun, true);
    assert.equal(answer.units.length, 3);
    assert.deepEqual(answer.units[0], {
      start: '2010-01-01',
      stop: '2015-07-24',
      instanceId: 'bnt-hourly-traffic_backfill-all_2010-01-01_2025-06-01_unit_2010-01-01_2015-07-24',
      estimatedRows: 974_400,
      estimatedRequests: 21,
    });
    assert.equal(answer.estimatedRequests, 59);
    assert.equal(answer.merges, 3);
    assert.equal(answer.waves, 1);
    assert.equal(answer.batches.length, 3);
    assert.equal(answer.statements.length, 3);
    assert.equal(planned.length, 1);
    assert.deepEqual(planned[0]?.batches.flat(), splitUnits(TRAFFIC, [HISTORY]));
    assert.equal(client.starts.length, 0);
  });

  it('plans a missing-mode dry run from the weeks the table lacks', async () => {
    const missing = [{ start: '2024-02-04', stop: '2024-02-18' }];
    const { client, deps, missingAsked } = harness(missing);
    const window = { start: '2024-01-07', stop: '2024-12-29' };
    const response = await handleBackfill(
      post({ dataset: CROSSINGS, startDate: window.start, stopDate: window.stop, mode: 'missing', dryRun: true }),
      client,
      deps,
    );
    assert.equal(response.status, 200);
    assert.deepEqual(missingAsked, [window]);
    assert.deepEqual(
      body(response).units.map((unit: Window) => ({ start: unit.start, stop: unit.stop })),
      missing,
    );
    assert.equal(client.starts.length, 0);
  });

  it('leaves finding the missing weeks to the orchestration when it really runs', async () => {
    const { client, deps, missingAsked } = harness();
    const response = await handleBackfill(
      post({ dataset: CROSSINGS, startDate: '2024-01-07', stopDate: '2024-12-29', mode: 'missing' }),
      client,
      deps,
    );
    assert.equal(response.status, 202);
    assert.equal(body(response).units, null);
    assert.deepEqual(missingAsked, []);
    assert.deepEqual(client.starts[0]?.input, {
      dataset: CROSSINGS,
      window: { start: '2024-01-07', stop: '2024-12-29' },
      mode: 'missing',
      maxConcurrency: 4,
    });
  });

  it('starts the failed mode with the days whose latest run failed, whoever ran them, as a plan of units', async () => {
    const { client, deps, ledger } = harness();
    const window = { start: '2024-01-01', stop: '2024-07-01' };
    // Units as an older plan cut them (five weeks): the failed mode redoes the units recorded, whatever their size.
    const units = splitUnits(CROSSINGS, [window], { pageRows: 10_000, rowsPerDay: 5_500 });
    const unit = (index: number) => units[index] as Window;
    const all = backfillInstanceId(CROSSINGS, window, 'all');
    const at = (day: string) => `${day}T12:00:00.000Z`;
    for (const [index, status] of [
      [0, 'completed'],
      [1, 'failed'],
      [2, 'failed'],
      [3, 'completed'],
      [4, 'failed'],
      [5, 'completed'],
    ] as const) {
      ledger.add({
        dataset: CROSSINGS,
        window: unit(index),
        status,
        instanceId: `${all}_unit_x`,
        finishedAt: at('2026-11-01'),
      });
    }
    // A weekly run inside unit 3 failed later; a command-line run fixed unit 4 later still.
    const week = { start: '2024-04-21', stop: '2024-04-28' };
    ledger.add({
      dataset: CROSSINGS,
      window: week,
      status: 'failed',
      instanceId: 'weekly',
      finishedAt: at('2026-11-02'),
    });
    ledger.add({
      dataset: CROSSINGS,
      window: unit(4),
      status: 'completed',
      instanceId: 'cli',
      finishedAt: at('2026-11-03'),
    });
    // Another dataset's failures are not this one's.
    ledger.add({ dataset: TRAFFIC, window, status: 'failed', instanceId: 'cli', finishedAt: at('2026-11-04') });
    const response = await handleBackfill(
      post({ dataset: CROSSINGS, startDate: window.start, stopDate: window.stop, mode: 'failed', maxConcurrency: 2 }),
      client,
      deps,
    );
    assert.equal(response.status, 202, JSON.stringify(body(response)));
    assert.deepEqual(
      (client.starts[0]?.input as { plan: { units: Window[] } }).plan.units,
      [{ start: unit(1).start, stop: unit(2).stop }, week],
      'the failed days, in units of their own (one for the ten weeks of units 1 and 2: a unit holds 25 weeks)',
    );
    assert.deepEqual(client.starts[0]?.input, {
      dataset: CROSSINGS,
      window,
      mode: 'failed',
      maxConcurrency: 2,
      plan: planUnits(CROSSINGS, [{ start: unit(1).start, stop: unit(2).stop }, week]),
    });
    assert.equal(client.starts[0]?.instanceId, backfillInstanceId(CROSSINGS, window, 'failed'));
    assert.equal(ledger.listings, 1, 'one listing of the ledger');
    assert.ok(
      client.statusQueries.every((query) => query.instanceId === backfillInstanceId(CROSSINGS, window, 'failed')),
      'no earlier backfill is read',
    );
  });

  it('starts nothing in the failed mode when no unit failed', async () => {
    const { client, deps } = harness();
    const response = await handleBackfill(
      post({ dataset: CROSSINGS, startDate: '2024-01-01', stopDate: '2024-03-01', mode: 'failed' }),
      client,
      deps,
    );
    assert.equal(response.status, 200);
    assert.equal(body(response).started, false);
    assert.equal(client.starts.length, 0);
  });

  it('clips the range to the dataset’s dates, as the command line does, and says so', async () => {
    const { client, deps } = harness();
    const response = await handleBackfill(
      post({ dataset: CROSSINGS, startDate: '2001-01-01', stopDate: '2026-01-01', dryRun: true }),
      client,
      deps,
    );
    assert.equal(response.status, 200);
    const answer = body(response);
    assert.deepEqual(answer.window, { start: '2019-01-01', stop: '2026-01-01' });
    assert.deepEqual(answer.requested, { start: '2001-01-01', stop: '2026-01-01' });
    assert.match(answer.clipped, /\[2001-01-01, 2026-01-01\) was clipped to \[2019-01-01, 2026-01-01\)/);
    assert.equal(answer.instanceId, backfillInstanceId(CROSSINGS, answer.window, 'all'));
    assert.equal(answer.units[0].start, '2019-01-01');

    const started = await handleBackfill(
      post({ dataset: TRAFFIC, startDate: '2024-01-01', stopDate: '2030-01-01' }),
      client,
      deps,
    );
    assert.equal(started.status, 202);
    assert.deepEqual(body(started).window, { start: '2024-01-01', stop: '2026-12-01' }, 'up to tomorrow, UTC');
    assert.match(body(started).clipped, /clipped/);
    assert.equal(body(started).requested.stop, '2030-01-01');
  });

  it('answers 400 naming the field when nothing of the range can hold data, and starts nothing', async () => {
    const { client, deps } = harness();
    const before = await handleBackfill(
      post({ dataset: CROSSINGS, startDate: '2010-01-01', stopDate: '2018-06-01' }),
      client,
      deps,
    );
    assert.equal(before.status, 400);
    assert.equal(body(before).error.field, 'stopDate');
    const future = await handleBackfill(
      post({ dataset: CROSSINGS, startDate: '2027-01-01', stopDate: '2027-06-01' }),
      client,
      deps,
    );
    assert.equal(future.status, 400);
    assert.equal(body(future).error.field, 'startDate');
    assert.equal(client.starts.length, 0);
  });

  it('answers 409 naming a running backfill of the same dataset over some of the same days; a dry run still answers', async () => {
    const { client, deps } = harness();
    const running = backfillInstanceId(CROSSINGS, { start: '2020-01-01', stop: '2021-01-01' }, 'all');
    client.set(running, { name: BACKFILL_ORCHESTRATOR, runtimeStatus: 'Running' });
    client.set(backfillInstanceId(TRAFFIC, { start: '2020-01-01', stop: '2022-01-01' }, 'all'), {
      name: BACKFILL_ORCHESTRATOR,
      runtimeStatus: 'Running',
    });
    const request = { dataset: CROSSINGS, startDate: '2020-06-01', stopDate: '2022-01-01' };
    const refused = await handleBackfill(post(request), client, deps);
    assert.equal(refused.status, 409);
    assert.equal(body(refused).running.instanceId, running);
    assert.equal(body(refused).running.statusUrl, `https://bnt-func.azurewebsites.net/api/runs/${running}`);
    assert.match(body(refused).error.message, new RegExp(`${running} .*overlaps this range and is running`));
    assert.equal(client.starts.length, 0);

    const dryRun = await handleBackfill(post({ ...request, dryRun: true }), client, deps);
    assert.equal(dryRun.status, 200);

    const elsewhere = await handleBackfill(post({ ...request, startDate: '2021-01-01' }), client, deps);
    assert.equal(elsewhere.status, 202, 'adjacent, not overlapping');
    client.set(running, { name: BACKFILL_ORCHESTRATOR, runtimeStatus: 'Completed' });
    const after = await handleBackfill(
      post({ ...request, startDate: '2020-03-01', stopDate: '2020-12-01' }),
      client,
      deps,
    );
    assert.equal(after.status, 202, 'once the other is done');
  });
});
