import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BLOCK_CONTENT_TYPE, BLOCK_TYPE_TAG } from '../../src/blocks/keyvault';
import {
  BLOCK_NAME_SETTINGS,
  BLOCK_TYPES,
  type BlockType,
  DEFAULT_BLOCK_NAMES,
  validateBlock,
} from '../../src/blocks/types';
import { checkVaultUrl } from '../../src/blocks/open';
import {
  moduleParams,
  moduleScope,
  nestedObject,
  objectEntries,
  params,
  read,
  resolveValue,
  resources,
  variables,
} from './bicep-text';

const main = read('infra/main.bicep');
const keyVaultModule = moduleScope('keyVault');

/** The secrets keyvault.bicep writes: block type (from the tag) → name expression and value expression. */
function blockSecrets() {
  const secrets = resources(keyVaultModule.text).filter((r) => r.type === 'Microsoft.KeyVault/vaults/secrets');
  return secrets.map((secret) => {
    const entries = objectEntries(secret.body);
    const tags = objectEntries(nestedObject(secret.body, 'tags'));
    const properties = objectEntries(nestedObject(secret.body, 'properties'));
    return {
      symbol: secret.symbol,
      name: entries.get('name'),
      tag: tags.get(BLOCK_TYPE_TAG)?.replace(/^'|'$/g, ''),
      value: properties.get('value'),
      contentType: properties.get('contentType'),
    };
  });
}

/** The JSON document a secret's value builds: `string(someVar)` with someVar an object literal of params. */
function documentOf(valueExpression: string): Record<string, string> {
  const variable = /^string\((\w+)\)$/.exec(valueExpression)?.[1];
  assert.ok(variable, `the secret value is built as string(<object var>), got: ${valueExpression}`);
  const literal = variables(keyVaultModule.text).get(variable);
  assert.ok(literal !== undefined && literal.startsWith('{'), `${variable} is an object literal`);
  const document: Record<string, string> = {};
  for (const [field, expression] of objectEntries(literal.slice(1, -1))) {
    document[field] = resolveValue(expression, keyVaultModule);
  }
  return document;
}

describe('block secrets written by the Bicep', () => {
  it('writes the azure-container and lakehouse-table blocks, tagged with their type', () => {
    const tags = blockSecrets().map((secret) => secret.tag);
    assert.deepEqual(tags.sort(), ['azure-container', 'lakehouse-table']);
    for (const secret of blockSecrets()) {
      assert.equal(secret.contentType, `'${BLOCK_CONTENT_TYPE}'`, `${secret.symbol} content type`);
    }
  });

  it('writes documents the code accepts, with the deployed values', () => {
    for (const secret of blockSecrets()) {
      const type = secret.tag as BlockType;
      const document = documentOf(secret.value!);
      assert.doesNotThrow(() => validateBlock(type, document), `${type}: ${JSON.stringify(document)}`);
    }
  });

  it('points the azure-container block at the data lake and its stage container', () => {
    const container = blockSecrets().find((secret) => secret.tag === 'azure-container')!;
    const document = documentOf(container.value!);
    assert.deepEqual(document, {
      accountName: resolveValue('storage.outputs.dataLakeName'),
      container: resolveValue('storage.outputs.stageContainerName'),
    });
  });

  it('accepts every table format the parameter allows', () => {
    const allowed = params(main).get('lakehouseFormat')?.allowed;
    assert.ok(allowed && allowed.length > 0);
    const table = blockSecrets().find((secret) => secret.tag === 'lakehouse-table')!;
    for (const format of allowed) {
      const document = { ...documentOf(table.value!), format: resolveValue(format) };
      assert.doesNotThrow(() => validateBlock('lakehouse-table', document), format);
    }
  });

  it('names each secret after its block, and the default names are the code defaults', () => {
    const blockNames = variables(main).get('blockNames');
    assert.ok(blockNames);
    const names = objectEntries(blockNames.slice(1, -1));
    assert.deepEqual([...names.keys()].sort(), [...BLOCK_TYPES].sort());
    for (const type of BLOCK_TYPES) {
      assert.equal(resolveValue(names.get(type)!), DEFAULT_BLOCK_NAMES[type], `default name of ${type}`);
    }
    for (const secret of blockSecrets()) {
      assert.equal(secret.name, `blockNames['${secret.tag}']`, `${secret.symbol} name`);
    }
    assert.equal(moduleParams(main, 'keyVault').get('blockNames'), 'blockNames');
  });

  it('tells the app the same block names in its BLOCK_* settings', () => {
    const app = moduleScope('functionApp');
    const settings = objectEntries(
      nestedObject(resources(app.text).find((r) => r.type === 'Microsoft.Web/sites/config')!.body, 'properties'),
    );
    for (const type of BLOCK_TYPES) {
      assert.equal(settings.get(BLOCK_NAME_SETTINGS[type]), `blockNames['${type}']`, BLOCK_NAME_SETTINGS[type]);
    }
    assert.equal(moduleParams(main, 'functionApp').get('blockNames'), 'blockNames');
  });

  it('gives the app a Key Vault URL in the form the code accepts', () => {
    // vaultUri is https://<name>.vault.azure.net/ (with the trailing slash).
    const url = `https://${resolveValue('name', keyVaultModule)}.vault.azure.net/`;
    assert.equal(checkVaultUrl(url, 'KEY_VAULT_URL'), url);
    assert.equal(
      objectEntries(
        nestedObject(
          resources(moduleScope('functionApp').text).find((r) => r.symbol === 'appSettings')!.body,
          'properties',
        ),
      ).get('KEY_VAULT_URL'),
      'keyVaultUrl',
    );
    assert.equal(moduleParams(main, 'functionApp').get('keyVaultUrl'), 'keyVault.outputs.uri');
  });
});
