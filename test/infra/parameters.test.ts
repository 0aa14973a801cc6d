import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bicepparamValues,
  moduleParams,
  moduleScope,
  nestedObject,
  objectEntries,
  params,
  read,
  resolveValue,
  resources,
} from './bicep-text';

const main = read('infra/main.bicep');
const mainParams = params(main);
const app = moduleScope('functionApp');
const site = resources(app.text).find((r) => r.type === 'Microsoft.Web/sites')!;
const scale = objectEntries(nestedObject(nestedObject(site.body, 'functionAppConfig'), 'scaleAndConcurrency'));

/** host.json's `hh:mm:ss` time spans, in seconds. */
function seconds(timespan: string): number {
  const match = /^(\d{2}):(\d{2}):(\d{2})$/.exec(timespan);
  assert.ok(match, `"${timespan}" is hh:mm:ss`);
  return Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3]);
}

describe('Durable Functions on Flex Consumption (Microsoft: Azure Storage provider on Flex)', () => {
  it('polls the task hub queues at least every 10 seconds when idle', () => {
    const host = JSON.parse(read('host.json')) as {
      extensions: { durableTask: { storageProvider?: { maxQueuePollingInterval?: string } } };
    };
    const interval = host.extensions.durableTask.storageProvider?.maxQueuePollingInterval;
    assert.ok(interval, 'extensions.durableTask.storageProvider.maxQueuePollingInterval is set');
    assert.ok(seconds(interval) > 0 && seconds(interval) <= 10, `${interval} is at most 10 s`);
  });

  it('takes the always-ready count of the durable group from a parameter, 0 by default', () => {
    const param = mainParams.get('durableAlwaysReadyInstances');
    assert.equal(param?.type, 'int');
    assert.equal(param.defaultValue, '0');
    assert.equal(param.minValue, 0);
    // Never more than the smallest maximumInstanceCount allows.
    assert.ok(param.maxValue !== undefined && param.maxValue <= mainParams.get('maximumInstanceCount')!.minValue!);
    assert.equal(moduleParams(main, 'functionApp').get('durableAlwaysReadyInstances'), 'durableAlwaysReadyInstances');
    assert.equal(resolveValue('durableAlwaysReadyInstances'), '0');
    assert.match(bicepparamValues().get('durableAlwaysReadyInstances') ?? '', /'DURABLE_ALWAYS_READY_INSTANCES'/);
  });

  it('gives that count to the durable scale group, and sets no group when it is 0', () => {
    assert.equal(
      scale.get('alwaysReady')?.replace(/\s+/g, ' '),
      "durableAlwaysReadyInstances > 0 ? [ { name: 'durable' instanceCount: durableAlwaysReadyInstances } ] : []",
    );
  });

  it('states the recommendation and its cost in docs/deploy.md', () => {
    const docs = read('docs/deploy.md');
    for (const name of ['maxQueuePollingInterval', 'durableAlwaysReadyInstances', 'DURABLE_ALWAYS_READY_INSTANCES'])
      assert.ok(docs.includes(name), name);
    assert.match(docs, /Keep one instance of the `durable` group always ready/);
    assert.match(docs, /about \*\*US\$\d+ a month\*\*/);
  });
});

/**
 * Regions, as their sources listed them when the template was written: Flex Consumption as the Flex quickstart
 * template allows them (Azure-Samples/functions-quickstart-typescript-azd, infra/main.bicep), Azure Databricks
 * from its supported-regions page. The deployment needs both.
 */
const FLEX_REGIONS = [
  'australiaeast',
  'australiasoutheast',
  'brazilsouth',
  'canadacentral',
  'centralindia',
  'centralus',
  'eastasia',
  'eastus',
  'eastus2',
  'eastus2euap',
  'francecentral',
  'germanywestcentral',
  'italynorth',
  'japaneast',
  'koreacentral',
  'northcentralus',
  'northeurope',
  'norwayeast',
  'southafricanorth',
  'southcentralus',
  'southeastasia',
  'southindia',
  'spaincentral',
  'swedencentral',
  'uaenorth',
  'uksouth',
  'ukwest',
  'westcentralus',
  'westeurope',
  'westus',
  'westus2',
  'westus3',
];
const DATABRICKS_REGIONS = [
  'australiacentral',
  'australiacentral2',
  'australiaeast',
  'australiasoutheast',
  'brazilsouth',
  'canadacentral',
  'canadaeast',
  'centralindia',
  'centralus',
  'eastasia',
  'eastus',
  'eastus2',
  'eastus2euap',
  'francecentral',
  'germanywestcentral',
  'japaneast',
  'japanwest',
  'koreacentral',
  'mexicocentral',
  'northcentralus',
  'northeurope',
  'norwayeast',
  'qatarcentral',
  'southafricanorth',
  'southcentralus',
  'southeastasia',
  'southindia',
  'swedencentral',
  'switzerlandnorth',
  'switzerlandwest',
  'uaenorth',
  'uksouth',
  'ukwest',
  'westcentralus',
  'westeurope',
  'westindia',
  'westus',
  'westus2',
  'westus3',
];

describe('parameters that cannot produce a broken deployment', () => {
  it('bounds maximumInstanceCount as Flex Consumption does (40 to 1000), citing the documentation', () => {
    const param = mainParams.get('maximumInstanceCount')!;
    assert.deepEqual([param.minValue, param.maxValue], [40, 1000]);
    assert.ok(Number(param.defaultValue) >= 40 && Number(param.defaultValue) <= 1000);
    const comment = main.slice(0, main.indexOf('param maximumInstanceCount')).split('\n\n').at(-1)!;
    assert.match(comment, /learn\.microsoft\.com\/azure\/azure-functions\/flex-consumption-plan/);
    assert.equal(scale.get('maximumInstanceCount'), 'maximumInstanceCount');
  });

  it('allows only regions with both Flex Consumption and Azure Databricks, and marks location for azd', () => {
    const param = mainParams.get('location')!;
    const allowed = param.allowed?.map((value) => value.replace(/'/g, ''));
    const both = FLEX_REGIONS.filter((region) => DATABRICKS_REGIONS.includes(region) && region !== 'eastus2euap');
    assert.deepEqual(allowed, both, 'the canary region eastus2euap is for Microsoft only');
    assert.match(param.decorators, /@metadata\(\{\s*azd: \{\s*type: 'location'\s*\}\s*\}\)/);
    assert.equal(param.defaultValue, 'resourceGroup().location');
  });

  it('grants Key Vault Secrets Officer to whoever deploys, on both paths, with nothing to export', () => {
    assert.equal(mainParams.get('deployerPrincipalId')?.defaultValue, 'deployer().objectId');
    assert.equal(bicepparamValues().has('deployerPrincipalId'), false, 'main.bicepparam leaves it to the default');
    assert.doesNotMatch(read('infra/main.bicepparam'), /AZURE_PRINCIPAL_ID/);
  });

  it('reads an existing workspace id by its segments’ names, checks it with resourceId(), and fails naming it', () => {
    const databricks = read('infra/modules/databricks.bicep');
    assert.doesNotMatch(databricks, /split\([^)]*\)\[\d+\]|Parts\[\d+\]/, 'no part taken at a fixed position');
    for (const key of ['subscriptions', 'resourcegroups', 'workspaces'])
      assert.match(databricks, new RegExp(`segmentAfter\\(existingWorkspaceId, '${key}'\\)`));
    assert.match(
      databricks,
      /toLower\(existingWorkspaceId\) == toLower\(resourceId\(existingWorkspace\.subscriptionId, existingWorkspace\.resourceGroupName, 'Microsoft\.Databricks\/workspaces', existingWorkspace\.name\)\)/,
    );
    const referenced = resources(databricks).find((r) => r.symbol === 'referencedWorkspace')!;
    const name = objectEntries(referenced.body).get('name')!;
    assert.match(
      name,
      /^createWorkspace \? workspaceName : existingIdIsWorkspace \? existingWorkspace\.name : fail\('existingDatabricksWorkspaceId /,
    );
    assert.equal(moduleParams(main, 'databricks').get('existingWorkspaceId'), 'existingDatabricksWorkspaceId');
  });
});
