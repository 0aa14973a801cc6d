/**
 * The whole compiled app in one process, as `func start` runs it: every file package.json's `main` names is loaded
 * as the host loads it (the host's `@azure/functions-core` replaced by the stand-in that records registrations),
 * and the registered handlers run — the timer and the HTTP starters with the real durable client against the
 * extension's HTTP API over the task-hub stand-in, the orchestrations replayed by durable-functions, and the
 * activities for real, four at a time, against the local Socrata server (one base for both datasets), the local
 * stage and DuckDB. Every row is counted at the end: the table holds exactly what the source has for each window.
 * The weeks come from the wall clock, as in production: the test finds them from what the timer started.
 */
import { registrations } from './support/core-standin';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HttpRequest, type HttpResponseInit, InvocationContext, type Timer } from '@azure/functions';
import { main as pipelineCli } from '../../src/cli/pipeline';
import { findDataset } from '../../src/pipeline/datasets';
import { type Window, addDays, utcDate } from '../../src/pipeline/window';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb';
import { runInProcess } from '../support/cli';
import {
  CROSSINGS_FIELDS,
  CROSSINGS_ID,
  TRAFFIC_FIELDS,
  TRAFFIC_ID,
  crossingsRows,
  temporaryDirectory,
  trafficRows,
} from '../support/fixtures';
import { type SocrataTestServer, startSocrataServer } from '../support/socrata-server';
import { type ExtensionApi, startExtensionApi } from './support/extension-api';
import { mainFiles } from './support/host-standin';
import { type ActivityHandler, type HubOrchestrator, TaskHub, inProcess } from './support/task-hub';

const ROOT = path.resolve(__dirname, '../..');
const TRAFFIC = 'bnt-hourly-traffic';
const CROSSINGS = 'bnt-hourly-crossings';
const DATASETS = [TRAFFIC, CROSSINGS] as const;
const WEEKS_OF_SOURCE = 14;

type Handler = (...args: any[]) => any;
interface Registered {
  readonly handler: Handler;
  readonly bindings: Record<string, Record<string, unknown>>;
}

describe('the compiled app in one process, activities for real four at a time', () => {
  let server: SocrataTestServer;
  const directories: Awaited<ReturnType<typeof temporaryDirectory>>[] = [];
  const saved = { ...process.env };
  const app = new Map<string, Registered>();
  const sourceRows: Record<string, Record<string, string>[]> = {};
  const lines: string[] = [];

  const newDataDir = async () => {
    const directory = await temporaryDirectory();
    directories.push(directory);
    process.env.BNT_DATA_DIR = directory.path;
    return directory.path;
  };

  before(async () => {
    assert.ok(
      existsSync(path.join(ROOT, 'dist/src/functions')),
      'dist/ is missing: run `npm run build` (npm test does)',
    );
    const today = utcDate(new Date());
    const first = addDays(today, -7 * WEEKS_OF_SOURCE);
    sourceRows[TRAFFIC] = trafficRows(first, addDays(today, 2));
    sourceRows[CROSSINGS] = crossingsRows(first, addDays(today, 2));
    server = await startSocrataServer({
      [TRAFFIC_ID]: { fields: TRAFFIC_FIELDS, rows: sourceRows[TRAFFIC] },
      [CROSSINGS_ID]: { fields: CROSSINGS_FIELDS, rows: sourceRows[CROSSINGS] },
      // A mirror that lacks the crossings dataset: a base set wrong for one dataset.
      [`mirror/${TRAFFIC_ID}`]: { fields: TRAFFIC_FIELDS, rows: sourceRows[TRAFFIC] },
    });
    for (const name of Object.keys(process.env))
      if (name.startsWith('BNT_') || name.startsWith('BLOCK_')) delete process.env[name];
    delete process.env.KEY_VAULT_URL;
    delete process.env.SOCRATA_APP_TOKEN;
    Object.assign(process.env, { BNT_STAGE: 'local', BNT_WAREHOUSE: 'duckdb', BNT_HEAL_WEEKS: '1' });
    await newDataDir();
    // The host loads every registration file with require(), in a CommonJS worker: so does this test.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    for (const file of mainFiles(ROOT)) require(file);
    for (const { metadata, handler } of registrations) {
      app.set(metadata.name, { handler: handler as Handler, bindings: metadata.bindings });
    }
  });
  after(async () => {
    process.env = saved;
    await server.close();
    for (const directory of directories) await directory.remove();
  });

  /** A task hub whose orchestrations and activities are the app's own registrations. */
  function hubOfTheApp(): TaskHub {
    const orchestrators: Record<string, HubOrchestrator> = {};
    const activities: Record<string, ActivityHandler> = {};
    for (const [name, { handler, bindings }] of app) {
      const type = Object.values(bindings).find((binding) => String(binding.type).endsWith('Trigger'))?.type;
      if (type === 'orchestrationTrigger') orchestrators[name] = { registered: handler };
      if (type === 'activityTrigger') activities[name] = inProcess(handler, (line) => lines.push(line));
    }
    return new TaskHub({ orchestrators, activities, maxConcurrentActivities: 4, start: new Date(), seed: 13 });
  }

  /** An invocation of a client function as the host makes it: the durable client binding's data in its inputs. */
  function clientContext(name: string, extension: ExtensionApi): InvocationContext {
    const bindings = app.get(name)?.bindings ?? {};
    const [bindingName] = Object.entries(bindings).find(([, binding]) => binding.type === 'durableClient') ?? [];
    assert.ok(bindingName, `${name} has a durable client binding`);
    const input = { type: 'durableClient', name: bindingName };
    const context = new InvocationContext({
      functionName: name,
      options: { extraInputs: [input] },
      logHandler: (_level, ...args) => lines.push(args.map(String).join(' ')),
    });
    context.extraInputs.set(input, extension.clientData);
    return context;
  }

  const timer: Timer = {
    isPastDue: false,
    schedule: { adjustForDST: false },
    scheduleStatus: { last: '', next: '', lastUpdated: '' },
  };

  async function fireWeekly(hub: TaskHub, extension: ExtensionApi): Promise<string[]> {
    const before = new Set(hub.executions);
    await app.get('weeklyTimer')?.handler(timer, clientContext('weeklyTimer', extension));
    return hub.executions.filter((execution) => !before.has(execution)).map((execution) => execution.instanceId);
  }

  async function http(
    name: string,
    extension: ExtensionApi,
    request: { method: string; path: string; body?: unknown; params?: Record<string, string> },
  ): Promise<HttpResponseInit> {
    return app.get(name)?.handler(
      new HttpRequest({
        method: request.method,
        url: `http://localhost:7071/api/${request.path}`,
        ...(request.body !== undefined ? { body: { string: JSON.stringify(request.body) } } : {}),
        ...(request.params ? { params: request.params } : {}),
      }),
      clientContext(name, extension),
    );
  }

  const windowOf = (instanceId: string): Window => {
    const [, start = '', stop = ''] = /_(\d{4}-\d{2}-\d{2})_(\d{4}-\d{2}-\d{2})$/.exec(instanceId) ?? [];
    return { start, stop };
  };

  /** The source's rows for a window of a dataset, counted from the rows the server serves. */
  function rowsInSource(dataset: string, window: Window): number {
    const field = dataset === TRAFFIC ? 'date' : 'transit_timestamp';
    return (sourceRows[dataset] ?? []).filter((row) => {
      const day = (row[field] ?? '').slice(0, 10);
      return day >= window.start && day < window.stop;
    }).length;
  }

  async function rowsInTable(dataDir: string, dataset: string, window: Window): Promise<number> {
    const warehouse = new DuckDbWarehouse(path.join(dataDir, 'warehouse.duckdb'));
    try {
      return await warehouse.rowsInWindow(findDataset(dataset), window);
    } finally {
      await warehouse.close();
    }
  }

  async function assertLoadedExactly(dataDir: string, dataset: string, window: Window): Promise<void> {
    const expected = rowsInSource(dataset, window);
    assert.ok(expected > 0, `the source has rows for ${dataset} ${window.start}..${window.stop}`);
    assert.equal(await rowsInTable(dataDir, dataset, window), expected, `${dataset} ${window.start}..${window.stop}`);
  }

  it('a weekly fire of both datasets, a failed week healed by the next fire, status, a backfill, and two overlapping backfills: every row counted', async (t) => {
    const dataDir = process.env.BNT_DATA_DIR as string;
    const hub = hubOfTheApp();
    const extension = await startExtensionApi(hub);
    try {
      // 1. A weekly fire, with the source base set to a mirror that lacks the crossings dataset: this week and the
      //    week before it (never run: healed) start for both datasets; the crossings windows fail.
      process.env.BNT_SOURCE_URL = server.baseFor('mirror');
      const started = await fireWeekly(hub, extension);
      await hub.run();
      const week = windowOf(started[0] as string);
      const weekBefore = { start: addDays(week.start, -7), stop: addDays(week.stop, -7) };
      assert.deepEqual(
        started.sort(),
        [
          `${CROSSINGS}_${weekBefore.start}_${weekBefore.stop}`,
          `${CROSSINGS}_${week.start}_${week.stop}`,
          `${TRAFFIC}_${weekBefore.start}_${weekBefore.stop}`,
          `${TRAFFIC}_${week.start}_${week.stop}`,
        ].sort(),
      );
      for (const window of [week, weekBefore]) {
        assert.equal(hub.execution(`${TRAFFIC}_${window.start}_${window.stop}`)?.runtimeStatus, 'Completed');
        assert.equal(hub.execution(`${CROSSINGS}_${window.start}_${window.stop}`)?.runtimeStatus, 'Failed');
        await assertLoadedExactly(dataDir, TRAFFIC, window);
      }
      t.diagnostic(`first fire: activities at most ${hub.maxConcurrentActivities} at once`);

      // 2. The base fixed, the timer fires again: the failed crossings weeks run again (this week's as a repeated
      //    fire of its occurrence, the week before because its latest run failed); the loaded ones are left alone.
      process.env.BNT_SOURCE_URL = server.baseUrl;
      const again = await fireWeekly(hub, extension);
      await hub.run();
      assert.deepEqual(
        again.sort(),
        [`${CROSSINGS}_${weekBefore.start}_${weekBefore.stop}`, `${CROSSINGS}_${week.start}_${week.stop}`].sort(),
      );
      assert.ok(
        lines.some((line) =>
          line.includes(`${CROSSINGS}_${weekBefore.start}_${weekBefore.stop}] healing a failed week: started`),
        ),
      );
      for (const dataset of DATASETS) {
        for (const window of [week, weekBefore]) await assertLoadedExactly(dataDir, dataset, window);
      }

      // 3. `npm run pipeline -- status` sees both weeks loaded, from the ledger the app wrote, with their rows.
      const status = await runInProcess(
        pipelineCli,
        ['status', '--dataset', CROSSINGS, '--start-date', weekBefore.start, '--stop-date', week.stop, '--json'],
        { cwd: dataDir, env: { ...process.env }, now: new Date() },
      );
      assert.equal(status.code, 0, status.stderr);
      const weeks = (JSON.parse(status.stdout.trim().split('\n').at(-1) ?? '') as { weeks: any[] }).weeks;
      assert.deepEqual(
        weeks.map((entry) => [entry.state, entry.rows, entry.lastRun?.instanceId, entry.lastRun?.status]),
        [weekBefore, week].map((window) => [
          'loaded',
          rowsInSource(CROSSINGS, window),
          `${CROSSINGS}_${window.start}_${window.stop}`,
          'completed',
        ]),
      );

      // 4. A backfill of crossings, through the HTTP starter; its status lists every unit's verdict from the ledger.
      const backfillRange = { start: addDays(week.start, -63), stop: addDays(week.start, -14) };
      const backfill = await http('startBackfill', extension, {
        method: 'POST',
        path: 'backfill',
        body: { dataset: CROSSINGS, startDate: backfillRange.start, stopDate: backfillRange.stop },
      });
      assert.equal(backfill.status, 202, JSON.stringify(backfill.jsonBody));
      const backfillId = (backfill.jsonBody as { instanceId: string }).instanceId;
      await hub.run();
      assert.equal(hub.execution(backfillId)?.output.status, 'completed');
      await assertLoadedExactly(dataDir, CROSSINGS, backfillRange);
      const run = await http('getRun', extension, {
        method: 'GET',
        path: `runs/${backfillId}`,
        params: { instanceId: backfillId },
      });
      const units = (run.jsonBody as { units: { status: string }[] }).units;
      const planned = (backfill.jsonBody as { units: number }).units;
      assert.ok(
        units.length === planned && units.every((unit) => unit.status === 'completed'),
        `${planned} units planned: ${JSON.stringify(units)}`,
      );

      // 5. Two overlapping backfills of traffic: the second is refused while the first runs; after it, it runs, and
      //    both ranges hold exactly the source's rows, each loaded once.
      const first = { start: addDays(week.start, -84), stop: addDays(week.start, -28) };
      const second = { start: addDays(week.start, -56), stop: weekBefore.start };
      const post = (range: Window) =>
        http('startBackfill', extension, {
          method: 'POST',
          path: 'backfill',
          body: { dataset: TRAFFIC, startDate: range.start, stopDate: range.stop },
        });
      const one = await post(first);
      assert.equal(one.status, 202);
      const refused = await post(second);
      assert.equal(refused.status, 409, JSON.stringify(refused.jsonBody));
      assert.equal(
        (refused.jsonBody as { running: { instanceId: string } }).running.instanceId,
        (one.jsonBody as { instanceId: string }).instanceId,
      );
      await hub.run();
      const two = await post(second);
      assert.equal(two.status, 202, JSON.stringify(two.jsonBody));
      await hub.run();
      for (const response of [one, two]) {
        assert.equal(
          hub.execution((response.jsonBody as { instanceId: string }).instanceId)?.output.status,
          'completed',
        );
      }
      await assertLoadedExactly(dataDir, TRAFFIC, { start: first.start, stop: second.stop });
      assert.deepEqual(hub.stuck(), []);
      assert.equal(hub.dropped.length, 0);
      t.diagnostic(`${hub.executions.length} executions; activities at most ${hub.maxConcurrentActivities} at once`);
    } catch (error) {
      t.diagnostic(lines.slice(-40).join('\n'));
      throw error;
    } finally {
      await extension.close();
    }
  });

  it('a weekly fire of both datasets, activities four at a time, loads every window exactly, every time', async (t) => {
    const concurrency: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const dataDir = await newDataDir();
      const hub = hubOfTheApp();
      const extension = await startExtensionApi(hub);
      try {
        const started = await fireWeekly(hub, extension);
        await hub.run();
        assert.equal(started.length, 4, 'this week and the week before, for both datasets');
        for (const instanceId of started) {
          assert.equal(hub.execution(instanceId)?.runtimeStatus, 'Completed', instanceId);
          await assertLoadedExactly(
            dataDir,
            instanceId.startsWith(TRAFFIC) ? TRAFFIC : CROSSINGS,
            windowOf(instanceId),
          );
        }
        concurrency.push(hub.maxConcurrentActivities);
      } finally {
        await extension.close();
      }
    }
    t.diagnostic(`activities at once, per fire: ${concurrency.join(', ')}`);
    assert.ok(
      concurrency.every((most) => most > 1 && most <= 4),
      'several at once, never more than four',
    );
  });
});
