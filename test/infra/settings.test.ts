import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DATASETS } from '../../src/pipeline/datasets';
import { ALL_SETTINGS, DEFAULT_SCHEDULE, SETTINGS } from '../../src/run/settings';
import {
  moduleParams,
  moduleScope,
  nestedObject,
  objectEntries,
  params,
  read,
  resolveValue,
  resources,
} from './bicep-text';

/**
 * Settings the Bicep sets that the app's code does not read: the Functions host, the Azure SDKs and the
 * platform read them. Each entry says who.
 */
const HOST_SETTINGS: Readonly<Record<string, string>> = {
  AzureWebJobsStorage__blobServiceUri: 'host storage, identity-based: blobs (host locks, timer state, Durable)',
  AzureWebJobsStorage__queueServiceUri: 'host storage: the Durable task hub queues',
  AzureWebJobsStorage__tableServiceUri: 'host storage: the Durable task hub history and instances tables',
  AzureWebJobsStorage__credential: 'host storage signs in with a managed identity',
  AzureWebJobsStorage__clientId: 'which (user-assigned) identity the host storage connection uses',
  APPLICATIONINSIGHTS_CONNECTION_STRING: 'the host sends telemetry (and the bnt.run.finished lines) here',
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Entra ID auth for telemetry: the component has local auth off',
  AZURE_CLIENT_ID: 'DefaultAzureCredential in the code picks the user-assigned identity by it',
  FUNCTIONS_NODE_BLOCK_ON_ENTRY_POINT_ERROR: 'the Node worker fails loudly when an entry point does not load',
  'AzureWebJobs.weeklyTimer.Disabled': 'the host turns the weeklyTimer function off when true',
};

/**
 * Settings the code reads that must not (or need not) be set in Azure. They are for a laptop, listed in
 * local.settings.json.example.
 */
const LOCAL_ONLY: Readonly<Record<string, string>> = {
  BNT_STAGE_CONNECTION_STRING: 'Azurite only; in Azure the stage signs in with the managed identity',
  BNT_DATA_DIR: 'the local stage, DuckDB file and blocks.json; Azure uses Blob Storage, Databricks and Key Vault',
  BNT_SOURCE_URL: "the base of a mirror or local stand-in; production reads each dataset's own Socrata URL",
  SOCRATA_APP_TOKEN: 'production reads the token from the socrata-source block in Key Vault',
};

/**
 * Settings the code reads that Azure may set but need not: without them the code's default applies, the same on a
 * laptop and in Azure. Listed in local.settings.json.example.
 */
const OPTIONAL: Readonly<Record<string, string>> = {
  BNT_MAX_QUARANTINE_PERCENT: "the quarantine limit; the dataset's own, else 1 %, when not set",
  BNT_PAGES_IN_FLIGHT: 'pages requested at once per run, default 4 (also the most the Functions app uses)',
};

/** Settings that break or mislead a Flex Consumption app, or carry keys. */
const FORBIDDEN = [
  'FUNCTIONS_WORKER_RUNTIME', // Flex: the runtime is functionAppConfig.runtime; the setting is refused
  'FUNCTIONS_EXTENSION_VERSION', // Flex: not an app setting
  'WEBSITE_RUN_FROM_PACKAGE', // Flex deploys from its blob container
  'WEBSITE_TIME_ZONE', // not supported on Linux Consumption / Flex: timers run in UTC
  'AzureWebJobsStorage', // a connection string: host storage is identity-based
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING', // an account key; Flex has no content share
];

const main = read('infra/main.bicep');
const app = moduleScope('functionApp');
const appSettings = objectEntries(
  nestedObject(resources(app.text).find((r) => r.type === 'Microsoft.Web/sites/config')!.body, 'properties'),
);
const exampleSettings = Object.keys(
  (JSON.parse(read('local.settings.json.example')) as { Values: Record<string, string> }).Values,
);

describe('app settings in the Bicep against the code', () => {
  it('sets every setting the code reads, except the local-only and optional ones', () => {
    for (const name of ALL_SETTINGS) {
      const inBicep = appSettings.has(name);
      const localOnly = Object.hasOwn(LOCAL_ONLY, name);
      const optional = Object.hasOwn(OPTIONAL, name);
      assert.ok(
        inBicep || localOnly || optional,
        `${name} is read by the code but neither set by the Bicep nor local-only nor optional`,
      );
      assert.ok(!(inBicep && localOnly), `${name} is local-only (${LOCAL_ONLY[name]}) but the Bicep sets it`);
    }
  });

  it('lists every local-only and optional setting in local.settings.json.example', () => {
    for (const name of [...Object.keys(LOCAL_ONLY), ...Object.keys(OPTIONAL)]) {
      assert.ok(ALL_SETTINGS.includes(name), `${name} is listed as local-only but the code no longer reads it`);
      assert.ok(exampleSettings.includes(name), `${name} is missing from local.settings.json.example`);
    }
  });

  it('sets nothing that neither the code nor the host reads', () => {
    for (const name of appSettings.keys()) {
      assert.ok(
        ALL_SETTINGS.includes(name) || Object.hasOwn(HOST_SETTINGS, name),
        `${name} is set by the Bicep but read by neither the code (ALL_SETTINGS) nor the host (HOST_SETTINGS)`,
      );
    }
  });

  it('sets no key, connection string or setting Flex Consumption refuses', () => {
    for (const name of FORBIDDEN) assert.ok(!appSettings.has(name), `${name} must not be set`);
    assert.ok(!appSettings.has(SETTINGS.stageConnectionString));
  });

  it('gives the production values', () => {
    assert.equal(appSettings.get(SETTINGS.stage), "'azure'");
    assert.equal(appSettings.get(SETTINGS.warehouse), "'databricks'");
    assert.equal(appSettings.get('FUNCTIONS_NODE_BLOCK_ON_ENTRY_POINT_ERROR'), "'true'");
    assert.equal(appSettings.get('AzureWebJobsStorage__credential'), "'managedidentity'");
    assert.equal(appSettings.get('AzureWebJobsStorage__clientId'), 'identityClientId');
    assert.equal(appSettings.get('AZURE_CLIENT_ID'), 'identityClientId');
    assert.equal(
      appSettings.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING'),
      "'ClientId=${identityClientId};Authorization=AAD'",
    );
    assert.equal(moduleParams(main, 'functionApp').get('identityClientId'), 'identity.outputs.clientId');
  });

  it('schedules the weekly run on the code default, Monday 12:00 UTC', () => {
    assert.equal(appSettings.get(SETTINGS.schedule), 'schedule');
    const schedule = moduleParams(main, 'functionApp').get('schedule')!;
    assert.equal(resolveValue(schedule), DEFAULT_SCHEDULE);
  });

  it('runs the datasets the code defines, all of them by default', () => {
    assert.equal(appSettings.get(SETTINGS.datasets), 'datasets');
    const names = resolveValue(moduleParams(main, 'functionApp').get('datasets')!).split(',');
    assert.deepEqual(
      names,
      DATASETS.map((dataset) => dataset.name),
    );
  });

  it('names a task hub the Durable extension accepts', () => {
    assert.equal(appSettings.get(SETTINGS.taskHub), 'taskHubName');
    const hub = resolveValue(moduleParams(main, 'functionApp').get('taskHubName')!);
    assert.match(hub, /^[A-Za-z][A-Za-z0-9]{2,44}$/);
    // Not the local hub: a laptop pointed at the same storage must not drive production's instances.
    const local = (JSON.parse(read('local.settings.json.example')) as { Values: Record<string, string> }).Values;
    assert.notEqual(hub, local[SETTINGS.taskHub]);
  });

  it('runs Node 22 on Flex Consumption with memory and scale from parameters', () => {
    const site = resources(app.text).find((r) => r.type === 'Microsoft.Web/sites')!;
    const config = nestedObject(site.body, 'functionAppConfig');
    assert.deepEqual(Object.fromEntries(objectEntries(nestedObject(config, 'runtime'))), {
      name: "'node'",
      version: "'22'",
    });
    const scale = objectEntries(nestedObject(config, 'scaleAndConcurrency'));
    assert.equal(scale.get('instanceMemoryMB'), 'instanceMemoryMB');
    assert.equal(scale.get('maximumInstanceCount'), 'maximumInstanceCount');
    assert.deepEqual(params(main).get('instanceMemoryMB')?.allowed, ['512', '2048', '4096']);
    const plan = resources(app.text).find((r) => r.type === 'Microsoft.Web/serverfarms')!;
    assert.match(nestedObject(plan.body, 'sku'), /name: 'FC1'/);
    const storage = objectEntries(nestedObject(nestedObject(config, 'deployment'), 'storage'));
    assert.equal(storage.get('type'), "'blobContainer'");
    assert.match(storage.get('authentication')!, /type: 'UserAssignedIdentity'/);
  });
});
