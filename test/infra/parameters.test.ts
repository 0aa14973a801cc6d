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
