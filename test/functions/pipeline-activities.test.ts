/**
 * The pipeline activities as the host runs them: settings from the environment (app settings), a stage in
 * Azurite, the table in DuckDB, the local Socrata stand-in as the source. Only the JSON an activity returns
 * crosses into the orchestration, and every log line names the dataset, the window and the instance.
 */
import { hooks } from './support/core-standin';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvocationContext } from '@azure/functions';
import { BlobServiceClient } from '@azure/storage-blob';
import { LocalBlockStore } from '../../src/blocks/store';
import {
  LOAD_WINDOWS,
  REPORT_RUN,
  STAGE_WINDOW,
  VERIFY_WINDOW,
  loadWindows,
  planMissing,
  reportRun,
  stageWindow,
  verifyWindow,
} from '../../src/functions/activities';
import { WINDOW_ORCHESTRATOR, windowOrchestrator } from '../../src/functions/windowOrchestrator';
import type { StageOutput } from '../../src/pipeline/steps';
import type { StepOutcome } from '../../src/schedule/outcome';
import { type Azurite, startAzurite } from '../support/azurite';
import { TRAFFIC_FIELDS, TRAFFIC_ID, temporaryDirectory, trafficRows } from '../support/fixtures';
import { type SocrataTestServer, startSocrataServer } from '../support/socrata-server';
import { TaskHub, inProcess } from './support/task-hub';

const DATASET = 'bnt-hourly-traffic';
const MONTH = { start: '2024-01-01', stop: '2024-02-01' };
const INSTANCE = `${DATASET}_${MONTH.start}_${MONTH.stop}`;

function context(lines: string[]): InvocationContext {
  return new InvocationContext({
    functionName: 'activity',
    logHandler: (_level, ...args) => lines.push(args.map(String).join(' ')),
  });
}

function valueOf<T>(outcome: StepOutcome<T>): T {
  assert.ok(outcome.ok, `the step failed: ${JSON.stringify(outcome)}`);
  return outcome.value;
}

describe('pipeline activities against Azurite and DuckDB, configured by app settings', () => {
  let azurite: Azurite;
  let server: SocrataTestServer;
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
  const saved = { ...process.env };

  before(async () => {
    [azurite, server, directory] = await Promise.all([
      startAzurite(),
      startSocrataServer({ [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows: trafficRows('2023-12-25', '2024-02-01') } }),
      temporaryDirectory(),
    ]);
    await new LocalBlockStore(directory.path).put('mtademo-container', 'azure-container', {
      accountName: 'devstoreaccount1',
      container: 'stage',
      endpoint: azurite.blobEndpoint,
    });
    Object.assign(process.env, {
      BNT_STAGE: 'azure',
      BNT_STAGE_CONNECTION_STRING: azurite.connectionString,
      BNT_WAREHOUSE: 'duckdb',
      BNT_DATA_DIR: directory.path,
      BNT_SOURCE_URL: server.baseUrl,
    });
    delete process.env.KEY_VAULT_URL;
  });
  after(async () => {
    process.env = saved;
    await Promise.all([azurite.stop(), server.close()]);
    await directory.remove();
  });

  let staged: StageOutput;

  test('stageWindow stages the window in the Azure stage and returns counts and chunk windows, never rows', async () => {
    const lines: string[] = [];
    staged = valueOf(await stageWindow({ dataset: DATASET, window: MONTH, instanceId: INSTANCE }, context(lines)));
    assert.equal(staged.fetched, 31 * 480);
    assert.equal(staged.staged, 31 * 480);
    assert.deepEqual(staged.chunks, [
      { start: '2024-01-01', stop: '2024-01-29' },
      { start: '2024-01-29', stop: '2024-02-01' },
    ]);
    assert.ok(JSON.stringify(staged).length < 2_000, 'small JSON for the orchestration history');
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('stage');
    const names: string[] = [];
    for await (const blob of container.listBlobsFlat({ prefix: `stage/${DATASET}/` })) names.push(blob.name);
    assert.ok(names.includes('stage/bnt-hourly-traffic/2024-01-01_2024-01-29/_manifest.json'), names.join(', '));
    assert.ok(lines.length > 0);
    for (const line of lines) {
      assert.ok(line.includes(DATASET) && line.includes('2024-01-01') && line.includes(INSTANCE), line);
    }
  });

  test('loadWindows loads the staged chunks in one MERGE; verifyWindow finds them all', async () => {
    const loaded = valueOf(
      await loadWindows({ dataset: DATASET, windows: staged.chunks, window: MONTH, instanceId: INSTANCE }, context([])),
    );
    assert.deepEqual(loaded, { dataset: DATASET, windows: 2, staged: 31 * 480 });
    const verified = valueOf(
      await verifyWindow({ dataset: DATASET, window: MONTH, staged: staged.staged, instanceId: INSTANCE }, context([])),
    );
    assert.deepEqual(verified, { rowsInWindow: 31 * 480, newestInSource: null, status: 'completed' });
  });

  test('planMissing answers the weeks the table lacks, from one aggregate query, and the units that fill them', async () => {
    const found = valueOf(
      await planMissing(
        { dataset: DATASET, window: { start: '2023-12-18', stop: '2024-02-12' }, instanceId: 'missing' },
        context([]),
      ),
    );
    assert.deepEqual(found.missing, [
      { start: '2023-12-18', stop: '2024-01-01' },
      { start: '2024-02-05', stop: '2024-02-12' },
    ]);
    assert.deepEqual(found.units, found.missing, 'each stretch is shorter than a unit');
    assert.deepEqual(found.batches, [[0], [1]], 'not adjacent: loaded apart');
  });

  test('the window orchestration with its activities run for real, in-process, through the task hub', async () => {
    const lines: string[] = [];
    const week = { start: '2024-01-07', stop: '2024-01-14' };
    const hub = new TaskHub({
      orchestrators: { [WINDOW_ORCHESTRATOR]: windowOrchestrator },
      activities: {
        [STAGE_WINDOW]: inProcess(stageWindow, (line) => lines.push(line)),
        [LOAD_WINDOWS]: inProcess(loadWindows, (line) => lines.push(line)),
        [VERIFY_WINDOW]: inProcess(verifyWindow, (line) => lines.push(line)),
        [REPORT_RUN]: inProcess(reportRun, (line) => lines.push(line)),
      },
    });
    const instanceId = `${DATASET}_${week.start}_${week.stop}`;
    hub.startNew(WINDOW_ORCHESTRATOR, instanceId, { dataset: DATASET, window: week });
    await hub.run();
    const run = hub.execution(instanceId);
    assert.equal(run?.runtimeStatus, 'Completed', run?.error);
    assert.equal(run?.output.status, 'completed');
    assert.equal(run?.output.staged, 7 * 480);
    assert.equal(run?.output.rowsInWindow, 7 * 480);
    assert.equal(lines.filter((line) => line.startsWith('bnt.run.finished ')).length, 1);
  });

  test('a refused request is returned as a terminal failure, not thrown: Durable does not retry it', async () => {
    server.failNext({ kind: 'status', status: 400, body: { code: 'query.soql.bad', message: 'refused' } });
    const outcome = await stageWindow(
      { dataset: DATASET, window: { start: '2024-01-08', stop: '2024-01-15' }, instanceId: 'refused' },
      context([]),
    );
    assert.equal(outcome.ok, false);
    assert.ok(
      !outcome.ok && outcome.error.kind === 'terminal' && /HTTP 400 \(query\.soql\.bad\)/.test(outcome.error.message),
    );
  });

  test('a wrong app setting is an input failure naming the setting', async () => {
    process.env.BNT_WAREHOUSE = 'snowflake';
    try {
      const outcome = await verifyWindow({ dataset: DATASET, window: MONTH, staged: 0, instanceId: 'x' }, context([]));
      assert.deepEqual(outcome.ok ? undefined : [outcome.error.kind, outcome.error.field], ['input', 'BNT_WAREHOUSE']);
    } finally {
      process.env.BNT_WAREHOUSE = 'duckdb';
    }
  });

  test('when the worker shuts down, the appTerminate hook stops a running step at once and releases its lock', async () => {
    const terminate = hooks.find((hook) => hook.name === 'appTerminate');
    assert.ok(terminate, 'the app registers an appTerminate hook');
    const week = { start: '2024-01-21', stop: '2024-01-28' };
    const asked = server.requests.length;
    server.failNext({ kind: 'stall' });
    const running = stageWindow({ dataset: DATASET, window: week, instanceId: 'stopping' }, context([]));
    while (server.requests.length === asked) await sleep(10);
    await terminate.callback({});
    await assert.rejects(running, /the Functions worker is shutting down/, 'a transient failure: Durable retries it');
    const lock = BlobServiceClient.fromConnectionString(azurite.connectionString)
      .getContainerClient('stage')
      .getBlobClient(`locks/${DATASET}/${week.start}_${week.stop}`);
    assert.equal((await lock.getProperties()).leaseState, 'available', 'the window lock was released');
    const again = await stageWindow({ dataset: DATASET, window: week, instanceId: 'after' }, context([]));
    assert.ok(again.ok, 'steps started after the shutdown signal run as usual');
  });
});
