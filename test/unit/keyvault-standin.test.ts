import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isRestError } from '@azure/core-rest-pipeline';
import { SecretClient } from '@azure/keyvault-secrets';
import {
  type KeyVaultStandIn,
  STANDIN_TENANT_ID,
  VAULT_SCOPE,
  secretClientOptions,
  startKeyVaultStandIn,
} from '../support/keyvault-standin.js';

/** Runs `action` and returns what it rejected with, failing if it resolved. */
async function rejection(action: () => Promise<unknown>): Promise<unknown> {
  try {
    await action();
  } catch (error) {
    return error;
  }
  assert.fail('expected the call to reject');
}

describe('Key Vault stand-in driven by the real SecretClient', () => {
  let standIn: KeyVaultStandIn;
  let client: SecretClient;

  // A fresh stand-in and client per test: each client has its own challenge
  // state, so "the first request is challenged" holds in every test.
  beforeEach(async () => {
    standIn = await startKeyVaultStandIn();
    client = new SecretClient(standIn.vaultUrl, standIn.credential, secretClientOptions(standIn));
  });
  afterEach(() => standIn.close());

  it('round-trips a secret through set and get, keeping versions', async () => {
    const first = await client.setSecret('db-password', 'hunter2', {
      contentType: 'text/plain',
      tags: { owner: 'pipeline' },
    });
    const second = await client.setSecret('db-password', 'correct-horse');

    const latest = await client.getSecret('db-password');
    assert.equal(latest.value, 'correct-horse');
    assert.equal(latest.name, 'db-password');
    assert.equal(latest.properties.version, second.properties.version);
    assert.equal(latest.properties.vaultUrl, standIn.vaultUrl);
    assert.equal(latest.properties.enabled, true);
    assert.ok(latest.properties.createdOn instanceof Date);

    const older = await client.getSecret('db-password', { version: first.properties.version! });
    assert.equal(older.value, 'hunter2');
    assert.equal(older.properties.contentType, 'text/plain');
    assert.deepEqual(older.properties.tags, { owner: 'pipeline' });
    assert.notEqual(first.properties.version, second.properties.version);

    assert.equal(standIn.secrets.get('db-password'), 'correct-horse');
  });

  it('serves values seeded directly into the map', async () => {
    standIn.secrets.set('seeded', 'from-the-test');
    assert.equal((await client.getSecret('seeded')).value, 'from-the-test');
  });

  it('rejects a missing secret with a 404 SecretNotFound RestError', async () => {
    const error = await rejection(() => client.getSecret('no-such-secret'));
    assert.ok(isRestError(error), `expected a RestError, got ${String(error)}`);
    assert.equal(error.statusCode, 404);
    assert.equal(error.code, 'SecretNotFound');
    assert.match(error.message, /no-such-secret was not found/);
  });

  it('lists the names that were set, following nextLink across small pages', async () => {
    for (const name of ['alpha', 'bravo', 'charlie']) await client.setSecret(name, `${name}-value`);

    const names: string[] = [];
    for await (const properties of client.listPropertiesOfSecrets()) names.push(properties.name);
    assert.deepEqual(names.sort(), ['alpha', 'bravo', 'charlie']);

    const pages: string[][] = [];
    for await (const page of client.listPropertiesOfSecrets().byPage({ maxPageSize: 2 })) {
      pages.push(page.map((p) => p.name));
    }
    assert.deepEqual(pages, [['alpha', 'bravo'], ['charlie']]);
  });

  it('challenges the first request and asks the credential for the vault scope', async () => {
    await client.setSecret('challenged', 'value');

    assert.deepEqual(
      standIn.requests.map(({ method, authorized }) => ({ method, authorized })),
      [
        { method: 'PUT', authorized: false }, // bodiless probe, answered with the challenge
        { method: 'PUT', authorized: true },
      ],
    );
    assert.deepEqual(standIn.credential.tokenRequests, [{ scopes: [VAULT_SCOPE], tenantId: STANDIN_TENANT_ID }]);
  });

  it('refuses a name outside [0-9a-zA-Z-] with 400 BadParameter', async () => {
    const error = await rejection(() => client.setSecret('not_allowed', 'value'));
    assert.ok(isRestError(error), `expected a RestError, got ${String(error)}`);
    assert.equal(error.statusCode, 400);
    assert.equal(error.code, 'BadParameter');
    assert.equal(standIn.secrets.has('not_allowed'), false);
  });

  it('verifies TLS for real: a client without the stand-in CA refuses the certificate', async () => {
    const { tlsOptions: _ca, ...withoutCa } = secretClientOptions(standIn);
    const untrusting = new SecretClient(standIn.vaultUrl, standIn.credential, withoutCa);
    const error = await rejection(() => untrusting.getSecret('anything'));
    assert.ok(isRestError(error), `expected a RestError, got ${String(error)}`);
    assert.equal(error.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  it('needs disableChallengeResourceVerification, because 127.0.0.1 is not under vault.azure.net', async () => {
    const strict = new SecretClient(standIn.vaultUrl, standIn.credential, {
      ...secretClientOptions(standIn),
      disableChallengeResourceVerification: false,
    });
    const error = await rejection(() => strict.getSecret('anything'));
    assert.match(String(error), /does not match the requested domain/);
  });
});
