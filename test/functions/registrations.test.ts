import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { mainFiles } from './support/host-standin';

/**
 * The compiled app (dist/, built by `npm test` first) loaded as the Functions host loads it, in a fresh
 * process per case: what the host would see is exactly what `registerFunction` received.
 */
const ROOT = path.resolve(__dirname, '../..');
const STANDIN = path.join(__dirname, 'support', 'host-standin.ts');

interface Metadata {
  readonly name: string;
  readonly bindings: Record<string, Record<string, unknown>>;
}

function loadApp(settings: Record<string, string> = {}): {
  status: number | null;
  stderr: string;
  functions: Map<string, Metadata>;
} {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BNT_')));
  const result = spawnSync(process.execPath, ['--import', 'tsx', STANDIN, ROOT], {
    env: { ...env, ...settings },
    encoding: 'utf8',
  });
  const last = result.stdout.trim().split('\n').at(-1) ?? '';
  const functions = new Map<string, Metadata>();
  if (result.status === 0)
    for (const metadata of JSON.parse(last) as Metadata[]) functions.set(metadata.name, metadata);
  return { status: result.status, stderr: result.stderr, functions };
}

function trigger(metadata: Metadata | undefined): Record<string, unknown> {
  const found = Object.values(metadata?.bindings ?? {}).find((binding) => String(binding.type).endsWith('Trigger'));
  assert.ok(found, `${metadata?.name} has a trigger`);
  return found;
}

function durableClientInputs(metadata: Metadata | undefined): number {
  return Object.values(metadata?.bindings ?? {}).filter(
    (binding) => binding.type === 'durableClient' && binding.direction === 'in',
  ).length;
}

describe('the compiled app, as the host loads it', () => {
  assert.ok(existsSync(path.join(ROOT, 'dist/src/functions')), 'dist/ is missing: run `npm run build` (npm test does)');
  const app = loadApp();

  it('loads every registration file that package.json main names', () => {
    assert.equal(app.status, 0, app.stderr);
    assert.deepEqual(
      mainFiles(ROOT).map((file) => path.basename(file)),
      [
        'activities.js',
        'backfillOrchestrator.js',
        'backfillUnitOrchestrator.js',
        'purgeHistory.js',
        'runs.js',
        'startBackfill.js',
        'weeklyTimer.js',
        'windowOrchestrator.js',
      ],
    );
  });

  it('registers exactly the two timers, the four endpoints, three orchestrations and five activities', () => {
    assert.deepEqual([...app.functions.keys()].sort(), [
      'backfillOrchestrator',
      'backfillUnitOrchestrator',
      'getRun',
      'listRuns',
      'loadWindows',
      'planMissing',
      'purgeHistory',
      'reportRun',
      'stageWindow',
      'startBackfill',
      'terminateRun',
      'verifyWindow',
      'weeklyTimer',
      'windowOrchestrator',
    ]);
  });

  it('purges old runs daily at 03:30 UTC, never on startup, with a durable client', () => {
    const purge = app.functions.get('purgeHistory');
    assert.deepEqual(
      { type: trigger(purge).type, schedule: trigger(purge).schedule, runOnStartup: trigger(purge).runOnStartup },
      { type: 'timerTrigger', schedule: '0 30 3 * * *', runOnStartup: undefined },
    );
    assert.equal(durableClientInputs(purge), 1);
  });

  it('fires the weekly timer on Monday 12:00 UTC by default, never on startup, with a durable client', () => {
    const timer = app.functions.get('weeklyTimer');
    assert.deepEqual(
      { type: trigger(timer).type, schedule: trigger(timer).schedule, runOnStartup: trigger(timer).runOnStartup },
      { type: 'timerTrigger', schedule: '0 0 12 * * 1', runOnStartup: undefined },
    );
    assert.equal(durableClientInputs(timer), 1);
  });

  it('serves the endpoints on their routes and methods, with function keys (never anonymous) and a durable client', () => {
    const expected: [string, string, string[]][] = [
      ['startBackfill', 'backfill', ['POST']],
      ['getRun', 'runs/{instanceId}', ['GET']],
      ['listRuns', 'runs', ['GET']],
      ['terminateRun', 'runs/{instanceId}/terminate', ['POST']],
    ];
    for (const [name, route, methods] of expected) {
      const metadata = app.functions.get(name);
      const http = trigger(metadata);
      assert.deepEqual(
        { type: http.type, route: http.route, methods: http.methods, authLevel: http.authLevel },
        { type: 'httpTrigger', route, methods, authLevel: 'function' },
        name,
      );
      assert.equal(durableClientInputs(metadata), 1, name);
      assert.ok(
        Object.values(metadata?.bindings ?? {}).some(
          (binding) => binding.type === 'http' && binding.direction === 'out',
        ),
      );
    }
  });

  it('registers the orchestrations and activities with their Durable triggers', () => {
    for (const name of ['windowOrchestrator', 'backfillOrchestrator', 'backfillUnitOrchestrator']) {
      assert.equal(trigger(app.functions.get(name)).type, 'orchestrationTrigger', name);
    }
    for (const name of ['stageWindow', 'loadWindows', 'verifyWindow', 'planMissing', 'reportRun']) {
      assert.equal(trigger(app.functions.get(name)).type, 'activityTrigger', name);
      assert.equal(durableClientInputs(app.functions.get(name)), 0, name);
    }
  });

  it('takes the timer’s schedule from BNT_SCHEDULE', () => {
    const custom = loadApp({ BNT_SCHEDULE: '0 30 6 * * 2' });
    assert.equal(custom.status, 0, custom.stderr);
    assert.equal(trigger(custom.functions.get('weeklyTimer')).schedule, '0 30 6 * * 2');
  });

  it('refuses to load with a bad schedule or dataset list, naming the setting', () => {
    const badSchedule = loadApp({ BNT_SCHEDULE: '0 12 * * 1' });
    assert.notEqual(badSchedule.status, 0);
    assert.match(
      badSchedule.stderr,
      /BNT_SCHEDULE "0 12 \* \* 1" is not a schedule the Functions host accepts: it has 5 fields/,
    );
    const quartz = loadApp({ BNT_SCHEDULE: '0 0 12 ? * MON' });
    assert.notEqual(quartz.status, 0, 'cron-parser reads it; the host’s NCrontab does not');
    assert.match(quartz.stderr, /BNT_SCHEDULE "0 0 12 \? \* MON"/);
    const badPurge = loadApp({ BNT_PURGE_AFTER_DAYS: 'a month' });
    assert.notEqual(badPurge.status, 0);
    assert.match(badPurge.stderr, /BNT_PURGE_AFTER_DAYS "a month" must be a whole number of days/);
    const badDatasets = loadApp({ BNT_DATASETS: 'bnt-hourly-traffic,qzve-kjga' });
    assert.notEqual(badDatasets.status, 0);
    assert.match(badDatasets.stderr, /BNT_DATASETS "qzve-kjga" is not a known dataset/);
  });
});
