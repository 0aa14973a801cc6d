import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  ROOT,
  callArguments,
  infraFiles,
  moduleParams,
  nestedObject,
  objectEntries,
  outputs,
  read,
  resources,
  stripComments,
  variables,
} from './bicep-text';

/** Built-in role definition ids: the same in every tenant (Azure built-in roles reference). */
const BUILT_IN_ROLES: Readonly<Record<string, string>> = {
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': 'Storage Blob Data Owner',
  'ba92f5b4-2d11-453d-a403-e96b0029c9fe': 'Storage Blob Data Contributor',
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88': 'Storage Queue Data Contributor',
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': 'Storage Table Data Contributor',
  '4633458b-17de-408a-b874-0445c86b69e6': 'Key Vault Secrets User',
  'b86a8fe4-44ce-4948-aee5-eccb2c155cd7': 'Key Vault Secrets Officer',
  '3913510d-42f4-4e42-8a64-420c390055eb': 'Monitoring Metrics Publisher',
  'acdd72a7-3385-48ef-bd42-f606fba81ae7': 'Reader',
};

const bicepFiles = infraFiles('.bicep');

interface Assignment {
  readonly file: string;
  readonly symbol: string;
  readonly scopeType: string;
  readonly principal: string;
  readonly role: string;
  readonly conditional: boolean;
}

/** Every role assignment: the resource type of its scope, the principal expression and the role's name. */
function roleAssignments(): Assignment[] {
  const found: Assignment[] = [];
  for (const file of bicepFiles) {
    const text = read(file);
    const all = resources(text);
    const roleIds = variables(text).get('roles');
    for (const assignment of all.filter((r) => r.type === 'Microsoft.Authorization/roleAssignments')) {
      const entries = objectEntries(assignment.body);
      const properties = objectEntries(nestedObject(assignment.body, 'properties'));
      const [scopeId, principal, role] = callArguments(entries.get('name')!, 'guid');
      const where = `${file} ${assignment.symbol}`;
      const scope = entries.get('scope');
      assert.ok(scope, `${where} has an explicit scope`);
      assert.equal(scopeId, `${scope}.id`, `${where}: the name's first guid() argument is its scope's id`);
      assert.equal(principal, properties.get('principalId'), `${where}: the name's second argument is its principal`);
      assert.equal(
        properties.get('roleDefinitionId'),
        `subscriptionResourceId('Microsoft.Authorization/roleDefinitions', ${role})`,
        `${where}: the name's third argument is its role`,
      );
      const roleKey = /^roles\.(\w+)$/.exec(role!)?.[1];
      const roleId =
        roleKey && roleIds ? objectEntries(roleIds.slice(1, -1)).get(roleKey)?.replace(/'/g, '') : undefined;
      assert.ok(roleId && BUILT_IN_ROLES[roleId], `${where}: ${role} is a known built-in role id`);
      const scopeResource = all.find((r) => r.symbol === scope);
      assert.ok(scopeResource, `${where}: scope ${scope} is a resource of ${file}`);
      // One assignment per element of a list of principals: named by the list.
      const loop = assignment.loop;
      if (loop) assert.equal(principal, loop.item, `${where}: one assignment per ${loop.source} element`);
      found.push({
        file,
        symbol: assignment.symbol,
        scopeType: scopeResource.type,
        principal: loop ? `each of ${loop.source}` : principal!,
        role: BUILT_IN_ROLES[roleId],
        conditional: assignment.condition !== undefined,
      });
    }
  }
  return found;
}

describe('role assignments', () => {
  it('are each named guid(scope, principal, role)', () => {
    assert.ok(roleAssignments().length > 0);
  });

  it('give each identity the roles the app needs, and no more', () => {
    const granted = roleAssignments()
      .map((a) => `${a.principal} → ${a.role} on ${a.scopeType}${a.conditional ? ' (optional)' : ''}`)
      .sort();
    assert.deepEqual(
      granted,
      [
        'accessConnectorPrincipalId → Storage Blob Data Contributor on Microsoft.Storage/storageAccounts',
        'each of alertRulePrincipalIds → Reader on Microsoft.Insights/components',
        'deployerPrincipalId → Key Vault Secrets Officer on Microsoft.KeyVault/vaults (optional)',
        'functionPrincipalId → Key Vault Secrets User on Microsoft.KeyVault/vaults',
        'functionPrincipalId → Monitoring Metrics Publisher on Microsoft.Insights/components',
        'functionPrincipalId → Storage Blob Data Contributor on Microsoft.Storage/storageAccounts',
        'functionPrincipalId → Storage Blob Data Owner on Microsoft.Storage/storageAccounts',
        'functionPrincipalId → Storage Queue Data Contributor on Microsoft.Storage/storageAccounts',
        'functionPrincipalId → Storage Table Data Contributor on Microsoft.Storage/storageAccounts',
      ].sort(),
    );
  });

  it('grant the host-storage roles on host storage and the data lake roles on the data lake', () => {
    const roles = read('infra/modules/roles.bicep');
    const main = read('infra/main.bicep');
    const bound = moduleParams(main, 'roles');
    assert.equal(bound.get('hostStorageName'), 'storage.outputs.hostStorageName');
    assert.equal(bound.get('dataLakeName'), 'storage.outputs.dataLakeName');
    assert.equal(bound.get('functionPrincipalId'), 'identity.outputs.principalId');
    assert.equal(bound.get('accessConnectorPrincipalId'), 'databricks.outputs.accessConnectorPrincipalId');
    const byScope = (symbol: string) =>
      roleAssignments()
        .filter(
          (a) =>
            a.file.endsWith('roles.bicep') &&
            objectEntries(resources(roles).find((r) => r.symbol === a.symbol)!.body).get('scope') === symbol,
        )
        .map((a) => `${a.principal} → ${a.role}`)
        .sort();
    assert.deepEqual(byScope('hostStorage'), [
      'functionPrincipalId → Storage Blob Data Owner',
      'functionPrincipalId → Storage Queue Data Contributor',
      'functionPrincipalId → Storage Table Data Contributor',
    ]);
    assert.deepEqual(byScope('dataLake'), [
      'accessConnectorPrincipalId → Storage Blob Data Contributor',
      'functionPrincipalId → Storage Blob Data Contributor',
    ]);
  });
});

describe('no keys', () => {
  const templateFiles = [...infraFiles(), 'azure.yaml'];

  it('uses no listKeys, account keys, SAS or connection strings with keys', () => {
    const forbidden = [
      /\blist\w*Keys?\s*\(/i, // listKeys(), listAccountKeys...
      /\blist(Account|Service)Sas\s*\(/i,
      /AccountKey\s*=/i,
      /SharedAccessSignature/i,
      /[?&]sig=/i,
      /\bsecureString\b|\bsecureObject\b/,
      /InstrumentationKey\s*=/i,
    ];
    for (const file of templateFiles) {
      const text = read(file);
      for (const pattern of forbidden) assert.doesNotMatch(text, pattern, `${file} matches ${pattern}`);
    }
  });

  it('outputs no secret, key or connection string', () => {
    for (const file of bicepFiles) {
      for (const [name, output] of outputs(read(file))) {
        assert.equal(output.secure, false, `${file}: output ${name} is @secure()`);
        assert.doesNotMatch(
          `${name} ${output.value}`,
          /connectionstring|accountkey|primarykey|secondarykey|instrumentationkey|\bkeys?\b|secret|password|token/i,
          `${file}: output ${name}`,
        );
      }
    }
  });

  it('turns shared keys and local auth off, and Key Vault to RBAC', () => {
    const storage = read('infra/modules/storage.bicep');
    const accounts = resources(storage).filter((r) => r.type === 'Microsoft.Storage/storageAccounts');
    assert.equal(accounts.length, 2);
    for (const account of accounts) {
      assert.equal(
        objectEntries(nestedObject(account.body, 'properties')).get('allowSharedKeyAccess'),
        'false',
        account.symbol,
      );
    }
    const dataLake = objectEntries(nestedObject(accounts.find((a) => a.symbol === 'dataLake')!.body, 'properties'));
    assert.equal(dataLake.get('isHnsEnabled'), 'true');
    const appInsights = resources(read('infra/modules/monitoring.bicep')).find(
      (r) => r.type === 'Microsoft.Insights/components',
    )!;
    assert.equal(objectEntries(nestedObject(appInsights.body, 'properties')).get('DisableLocalAuth'), 'true');
    const vault = resources(read('infra/modules/keyvault.bicep')).find((r) => r.type === 'Microsoft.KeyVault/vaults')!;
    assert.equal(objectEntries(nestedObject(vault.body, 'properties')).get('enableRbacAuthorization'), 'true');
  });
});

describe('template files', () => {
  it('reference only modules and query files that exist, and every query file is used', () => {
    const loaded = new Set<string>();
    for (const file of bicepFiles) {
      const text = stripComments(read(file));
      const dir = join(ROOT, file, '..');
      for (const match of text.matchAll(/^module \w+ '([^']+)'/gm)) {
        assert.ok(existsSync(join(dir, match[1]!)), `${file}: module ${match[1]} exists`);
      }
      for (const match of text.matchAll(/loadTextContent\('([^']+)'\)/g)) {
        const path = join(dir, match[1]!);
        assert.ok(existsSync(path), `${file}: ${match[1]} exists`);
        loaded.add(path);
      }
    }
    for (const query of infraFiles('.kql'))
      assert.ok(loaded.has(join(ROOT, query)), `${query} is loaded by a template`);
  });

  it('deploy to a resource group, with a description on every parameter', () => {
    assert.match(read('infra/main.bicep'), /^targetScope = 'resourceGroup'$/m);
    for (const file of bicepFiles) {
      const lines = read(file).split('\n');
      lines.forEach((line, index) => {
        if (!line.startsWith('param ')) return;
        // The decorators are the lines right above the param; a @description must be among them.
        let first = index;
        while (
          first > 0 &&
          lines[first - 1]!.trim() !== '' &&
          !/^(param|var|resource|module|output|\/\/)/.test(lines[first - 1]!)
        )
          first--;
        assert.ok(
          lines.slice(first, index).some((l) => l.startsWith('@description(')),
          `${file}: ${line} has a @description`,
        );
      });
    }
  });
});
