/**
 * One DuckDB file, many users in one process: steps of both datasets (as the Functions host runs activities,
 * several at once) share one instance of the file and take turns writing it, so no row is lost.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BNT_HOURLY_CROSSINGS, BNT_HOURLY_TRAFFIC, type DatasetDefinition } from '../../src/pipeline/datasets';
import { SocrataClient } from '../../src/pipeline/source';
import { type StepPorts, loadWindowsStep, stageWindowStep, verifyWindowStep } from '../../src/pipeline/steps';
import { LocalStageStore } from '../../src/stage/local';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb';
import {
  CROSSINGS_FIELDS,
  CROSSINGS_ID,
  FAST_RETRY,
  TRAFFIC_FIELDS,
  TRAFFIC_ID,
  crossingsRows,
  temporaryDirectory,
  trafficRows,
} from '../support/fixtures';
import { type SocrataTestServer, startSocrataServer } from '../support/socrata-server';

const WEEK = { start: '2024-01-07', stop: '2024-01-14' };

describe('two datasets into one DuckDB file at once, in one process', () => {
  let server: SocrataTestServer;
  before(async () => {
    server = await startSocrataServer({
      [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows: trafficRows(WEEK.start, WEEK.stop) },
      [CROSSINGS_ID]: { fields: CROSSINGS_FIELDS, rows: crossingsRows(WEEK.start, WEEK.stop) },
    });
  });
  after(() => server.close());

  /** Fresh ports for one step, as each activity builds its own: its own warehouse object on the shared file. */
  function portsFor(dataDir: string, dataset: DatasetDefinition): StepPorts {
    const id = dataset === BNT_HOURLY_TRAFFIC ? TRAFFIC_ID : CROSSINGS_ID;
    return {
      source: new SocrataClient({ resourceUrl: server.resourceUrl(id), retry: FAST_RETRY }),
      stage: new LocalStageStore(dataDir),
      warehouse: new DuckDbWarehouse(join(dataDir, 'warehouse.duckdb')),
      progress: () => undefined,
    };
  }

  test('both datasets staged, loaded and verified at once keep every row, every time', async () => {
    for (let attempt = 1; attempt <= 4; attempt += 1) {
      const directory = await temporaryDirectory();
      try {
        const datasets = [BNT_HOURLY_TRAFFIC, BNT_HOURLY_CROSSINGS];
        // Each dataset's window as its orchestration runs it, both at once; each step with its own ports.
        const verified = await Promise.all(
          datasets.map(async (dataset) => {
            const input = { dataset: dataset.name, window: WEEK };
            const staged = await stageWindowStep(portsFor(directory.path, dataset), input);
            await loadWindowsStep(portsFor(directory.path, dataset), { ...input, windows: staged.chunks });
            return verifyWindowStep(portsFor(directory.path, dataset), input);
          }),
        );
        assert.deepEqual(
          verified.map((result) => result.rowsInWindow),
          [7 * 480, 7 * 24 * 16],
          `attempt ${attempt}`,
        );
        // And afterwards, once every step has given the file up.
        for (const [index, dataset] of datasets.entries()) {
          const warehouse = new DuckDbWarehouse(join(directory.path, 'warehouse.duckdb'));
          try {
            assert.equal(
              await warehouse.rowsInWindow(dataset, WEEK),
              verified[index]?.rowsInWindow,
              `attempt ${attempt}`,
            );
          } finally {
            await warehouse.close();
          }
        }
      } finally {
        await directory.remove();
      }
    }
  });
});
