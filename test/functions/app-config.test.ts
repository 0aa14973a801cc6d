import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ALL_SETTINGS, DEFAULT_SCHEDULE } from '../../src/run/settings';

const ROOT = path.resolve(__dirname, '../..');
const json = (file: string) => JSON.parse(readFileSync(path.join(ROOT, file), 'utf8')) as Record<string, any>;

describe('the app’s configuration files', () => {
  it('local.settings.json.example lists every setting the app reads, with local defaults', () => {
    const values = json('local.settings.json.example').Values as Record<string, string>;
    for (const setting of [
      ...ALL_SETTINGS,
      'AzureWebJobsStorage',
      'FUNCTIONS_WORKER_RUNTIME',
      'AzureWebJobs.weeklyTimer.Disabled',
    ]) {
      assert.ok(setting in values, setting);
    }
    assert.equal(values.AzureWebJobsStorage, 'UseDevelopmentStorage=true');
    assert.equal(values.FUNCTIONS_WORKER_RUNTIME, 'node');
    assert.equal(values.BNT_SCHEDULE, DEFAULT_SCHEDULE);
    assert.ok(values.TASKHUB_NAME);
  });

  it('host.json: the v4 extension bundle, the task hub from TASKHUB_NAME, no restart of a running id, an hour per function', () => {
    const host = json('host.json');
    assert.equal(host.extensionBundle.version, '[4.*, 5.0.0)');
    assert.equal(host.extensions.durableTask.hubName, '%TASKHUB_NAME%');
    assert.equal(host.extensions.durableTask.overridableExistingInstanceStates, 'NonRunningStates');
    assert.equal(host.functionTimeout, '01:00:00');
    assert.equal(host.logging.logLevel.default, 'Warning');
    assert.equal(host.logging.logLevel.Function, 'Information', 'our own lines, the summary line among them');
  });

  it('package.json: main covers the compiled registrations, start runs Core Tools without depending on them', () => {
    const pkg = json('package.json');
    assert.equal(pkg.main, 'dist/src/functions/*.js');
    assert.match(pkg.scripts.build, /^tsc -p tsconfig\.build\.json && /, 'compiles, then assembles deploy/');
    assert.equal(pkg.scripts.start, 'func start');
    const dependencies = { ...pkg.dependencies, ...pkg.devDependencies };
    assert.equal(dependencies['azure-functions-core-tools'], undefined);
    assert.match(pkg.dependencies['durable-functions'], /^3\.\d+\.\d+$/, 'pinned: the tests use its internals');
  });

  it('installs one copy of @azure/functions, shared with durable-functions', () => {
    assert.ok(!existsSync(path.join(ROOT, 'node_modules/durable-functions/node_modules/@azure/functions')));
  });
});
