import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { moduleParams, nestedObject, objectEntries, outputs, params, read, resources } from './bicep-text';

const main = read('infra/main.bicep');
const alerts = read('infra/modules/alerts.bicep');
const roles = read('infra/modules/roles.bicep');
const rules = resources(alerts).filter((r) => r.type === 'Microsoft.Insights/scheduledQueryRules');

describe('log alert rules stand on their own identity', () => {
  it('are the three rules, on an API version with managed identities (2021-08-01 and later)', () => {
    assert.deepEqual(
      rules.map((rule) => rule.symbol),
      ['windowFailed', 'weeklyRunMissing', 'staleSource'],
    );
    for (const rule of rules) assert.ok(rule.apiVersion >= '2021-08-01', `${rule.symbol}@${rule.apiVersion}`);
  });

  it('each have a system-assigned identity, so a query never runs as the last user who edited the rule', () => {
    for (const rule of rules) {
      assert.deepEqual(Object.fromEntries(objectEntries(nestedObject(rule.body, 'identity'))), {
        type: "'SystemAssigned'",
      });
    }
  });

  it('query only the Application Insights component, on which each identity gets Reader', () => {
    for (const rule of rules) {
      const scopes = objectEntries(nestedObject(rule.body, 'properties')).get('scopes');
      assert.equal(scopes?.replace(/\s+/g, ' '), '[ appInsightsId ]', rule.symbol);
    }
    // Every rule's identity is handed to roles.bicep, and nothing else is.
    const principalIds = outputs(alerts).get('rulePrincipalIds');
    assert.equal(principalIds?.type, 'array');
    const listed = /^output rulePrincipalIds array = \[([\s\S]*?)\]$/m.exec(alerts)?.[1];
    assert.deepEqual(
      listed
        ?.split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== ''),
      rules.map((rule) => `${rule.symbol}.identity.principalId`),
    );
    const bound = moduleParams(main, 'roles');
    assert.equal(bound.get('alertRulePrincipalIds'), 'alerts.outputs.rulePrincipalIds');
    // The component the rules query is the one the Reader role is on.
    assert.equal(moduleParams(main, 'alerts').get('appInsightsId'), 'monitoring.outputs.appInsightsId');
    assert.equal(bound.get('appInsightsName'), 'monitoring.outputs.appInsightsName');
    assert.equal(params(roles).get('alertRulePrincipalIds')?.type, 'array');
    const readers = resources(roles).find((r) => r.symbol === 'alertRuleReaders');
    assert.deepEqual(readers?.loop, { item: 'principalId', source: 'alertRulePrincipalIds' });
    const entries = objectEntries(readers.body);
    assert.equal(entries.get('scope'), 'appInsights');
    assert.equal(
      objectEntries(nestedObject(readers.body, 'properties')).get('principalType'),
      "'ServicePrincipal'",
      'a managed identity',
    );
    const component = resources(roles).find((r) => r.symbol === 'appInsights');
    assert.equal(component?.type, 'Microsoft.Insights/components');
    assert.equal(objectEntries(component.body).get('name'), 'appInsightsName');
  });

  it('lets resource permissions read the component’s logs in its workspace', () => {
    const workspace = resources(read('infra/modules/monitoring.bicep')).find(
      (r) => r.type === 'Microsoft.OperationalInsights/workspaces',
    )!;
    const features = objectEntries(nestedObject(nestedObject(workspace.body, 'properties'), 'features'));
    assert.equal(features.get('enableLogAccessUsingOnlyResourcePermissions'), 'true');
  });
});
