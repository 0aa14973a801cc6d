import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BlobServiceClient } from '@azure/storage-blob';
import { BNT_HOURLY_TRAFFIC } from '../../src/pipeline/datasets';
import { runWindow } from '../../src/pipeline/drive';
import { readManifest } from '../../src/pipeline/steps';
import { SocrataClient } from '../../src/pipeline/source';
import { BlobStageStore } from '../../src/stage/blob';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb';
import { type Azurite, startAzurite } from '../support/azurite';
import { FAST_RETRY, TRAFFIC_FIELDS, TRAFFIC_ID, temporaryDirectory, trafficRows } from '../support/fixtures';
import { type SocrataTestServer, startSocrataServer } from '../support/socrata-server';

const CONTAINER = 'stage';
const week = { start: '2024-01-07', stop: '2024-01-14' };

describe('Azure Blob stage (Azurite)', () => {
  let azurite: Azurite;
  let server: SocrataTestServer;
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;

  before(async () => {
    [azurite, server, directory] = await Promise.all([
      startAzurite(),
      startSocrataServer({ [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows: trafficRows('2024-01-07', '2024-01-14') } }),
      temporaryDirectory(),
    ]);
  });
  after(async () => {
    await Promise.all([azurite.stop(), server.close(), directory.remove()]);
  });

  const blobNames = async () => {
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(CONTAINER);
    const names: string[] = [];
    // Staged files only: the run's locks live beside them under locks/.
    for await (const blob of container.listBlobsFlat({ prefix: 'stage/' })) names.push(blob.name);
    return names.sort();
  };

  const run = async (rowsPerPart: number) => {
    const warehouse = new DuckDbWarehouse(`${directory.path}/warehouse.duckdb`);
    try {
      return await runWindow(
        {
          source: new SocrataClient({ resourceUrl: server.resourceUrl(TRAFFIC_ID), retry: FAST_RETRY, pageSize: 500 }),
          stage: BlobStageStore.withConnectionString(azurite.connectionString, CONTAINER),
          warehouse,
          progress: () => undefined,
          tuning: { rowsPerPart },
        },
        BNT_HOURLY_TRAFFIC,
        week,
      );
    } finally {
      await warehouse.close();
    }
  };

  test('stages a window as blobs at deterministic paths and DuckDB loads them', async () => {
    const summary = await run(1000);
    assert.equal(summary.staged, 7 * 480);
    assert.equal(summary.rowsInWindow, 7 * 480);
    assert.match(summary.stage, /Azure container stage on account devstoreaccount1/);
    assert.deepEqual(await blobNames(), [
      'stage/bnt-hourly-traffic/2024-01-07_2024-01-14/_manifest.json',
      'stage/bnt-hourly-traffic/2024-01-07_2024-01-14/part-00000.jsonl',
      'stage/bnt-hourly-traffic/2024-01-07_2024-01-14/part-00001.jsonl',
      'stage/bnt-hourly-traffic/2024-01-07_2024-01-14/part-00002.jsonl',
      'stage/bnt-hourly-traffic/2024-01-07_2024-01-14/part-00003.jsonl',
    ]);
  });

  test('a rerun replaces the window’s blobs instead of adding to them', async () => {
    const summary = await run(1_000_000);
    assert.deepEqual(summary.parts, ['stage/bnt-hourly-traffic/2024-01-07_2024-01-14/part-00000.jsonl']);
    assert.deepEqual(await blobNames(), [
      'stage/bnt-hourly-traffic/2024-01-07_2024-01-14/_manifest.json',
      'stage/bnt-hourly-traffic/2024-01-07_2024-01-14/part-00000.jsonl',
    ]);
    assert.equal(summary.rowsInWindow, 7 * 480);
    const manifest = await readManifest(
      BlobStageStore.withConnectionString(azurite.connectionString, CONTAINER),
      BNT_HOURLY_TRAFFIC,
      week,
    );
    assert.equal(manifest.staged, 7 * 480);
  });

  test('a failed run leaves no manifest in the container', async () => {
    const pass = { kind: 'delay', ms: 0 } as const;
    server.failNext(pass, pass, { kind: 'status', status: 404, body: { code: 'not_found', message: 'gone' } });
    await assert.rejects(run(1000), /HTTP 404/);
    assert.ok(!(await blobNames()).some((name) => name.endsWith('_manifest.json')));
  });
});

describe('Azure Blob stage when the service goes away mid-upload', () => {
  test('the failure reaches the writer instead of being lost, and nothing is left unhandled', async () => {
    const azurite = await startAzurite();
    try {
      // One try per request: the SDK's own retries would only make the test wait.
      const store = BlobStageStore.withConnectionString(azurite.connectionString, 'doomed', {
        retryOptions: { maxTries: 1 },
      });
      const sink = await store.createSink('stage/x/part-00000.jsonl');
      await sink.write('{"a":1}\n');
      await azurite.stop();
      // More than one upload buffer, so the upload has to talk to the (now gone) service before close returns.
      const line = `${JSON.stringify({ filler: 'x'.repeat(1000) })}\n`;
      const written = (async () => {
        for (let i = 0; i < 10_000; i += 1) await sink.write(line);
        await sink.close();
      })();
      await assert.rejects(written);
    } finally {
      await azurite.stop();
    }
  });
});
