import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkVaultUrl } from '../../src/blocks/open';
import { type BlockType, checkHeaderSecret, validateBlock } from '../../src/blocks/types';
import { InputError } from '../../src/common/errors';

const WAREHOUSE = {
  host: 'adb-1234567890123456.7.azuredatabricks.net',
  httpPath: '/sql/1.0/warehouses/abc123',
  auth: { type: 'pat', token: 'dapi0123' },
};
const CONTAINER = { accountName: 'devstoreaccount1', container: 'stage' };

/** Characters that must never reach a header or URL: NUL, other controls, DEL, C1 controls, non-ASCII, bidi. */
const UNSAFE = ['\u0000', '\u0007', '\t', '\r\n', '\u007f', '\u0085', 'é', '\u202e', '🙂'];

/** Printable ASCII only: a message with anything else could corrupt a terminal or hide text in a log. */
const PRINTABLE = /^[\x20-\x7e]*$/;

function refusal(type: BlockType, value: unknown): InputError {
  try {
    validateBlock(type, value);
  } catch (error) {
    assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
    return error;
  }
  assert.fail(`${type} accepted ${JSON.stringify(value)}`);
}

function vaultRefusal(value: string): InputError {
  try {
    checkVaultUrl(value, 'KEY_VAULT_URL');
  } catch (error) {
    assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
    assert.equal(error.field, 'KEY_VAULT_URL');
    return error;
  }
  assert.fail(`accepted ${JSON.stringify(value)}`);
}

describe('block fields that go into headers and URLs', () => {
  it('refuse a Socrata app token with a control or non-ASCII character, never repeating it', () => {
    for (const unsafe of UNSAFE) {
      const error = refusal('socrata-source', { appToken: `SECRET${unsafe}X4` });
      assert.equal(error.field, 'appToken');
      assert.match(error.message, /^appToken: must be non-empty printable ASCII.*request header/);
      assert.doesNotMatch(error.message, /SECRET/);
      assert.match(error.message, PRINTABLE);
    }
  });

  it('refuse a Databricks token with a control or non-ASCII character, never repeating it', () => {
    for (const unsafe of UNSAFE) {
      const error = refusal('databricks-warehouse', {
        ...WAREHOUSE,
        auth: { type: 'pat', token: `dapiSECRET${unsafe}` },
      });
      assert.equal(error.field, 'auth.token');
      assert.doesNotMatch(error.message, /SECRET/);
    }
  });

  it('hold a token given as a flag or setting to the same rule, naming the field and not the value', () => {
    for (const unsafe of UNSAFE) {
      assert.throws(
        () => checkHeaderSecret(`SECRET${unsafe}X4`, 'SOCRATA_APP_TOKEN'),
        (error: unknown) => {
          assert.ok(error instanceof InputError);
          assert.equal(error.field, 'SOCRATA_APP_TOKEN');
          assert.match(error.message, /^SOCRATA_APP_TOKEN must be non-empty printable ASCII/);
          assert.doesNotMatch(error.message, /SECRET/);
          return true;
        },
      );
    }
    assert.equal(checkHeaderSecret('AbC-123_x', '--app-token'), 'AbC-123_x');
  });

  it('still accept every printable ASCII token', () => {
    const printable = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).join('');
    assert.equal(validateBlock('socrata-source', { appToken: printable }).appToken, printable);
  });

  it('refuse host and HTTP path with control or non-ASCII characters, quoting them escaped', () => {
    for (const unsafe of UNSAFE) {
      for (const [field, value] of [
        ['host', `adb-1.azuredatabricks.net${unsafe}`],
        ['httpPath', `/sql/1.0/warehouses/abc${unsafe}`],
      ] as const) {
        const error = refusal('databricks-warehouse', { ...WAREHOUSE, [field]: value });
        assert.equal(error.field, field);
        assert.match(error.message, PRINTABLE, `the message for ${JSON.stringify(unsafe)} holds it raw`);
      }
    }
  });

  it('refuse an emulator endpoint with characters the URL parser would silently drop or encode', () => {
    for (const unsafe of ['\n', '\t', 'é', '\u0000', ' ']) {
      const error = refusal('azure-container', { ...CONTAINER, endpoint: `http://127.0.0.1:10000/dev${unsafe}store` });
      assert.equal(error.field, 'endpoint');
      assert.match(error.message, PRINTABLE);
    }
    assert.ok(validateBlock('azure-container', { ...CONTAINER, endpoint: 'http://127.0.0.1:10000/devstoreaccount1' }));
  });
});

describe('the Key Vault URL check', () => {
  it('accepts a vault URL with or without its trailing slash', () => {
    assert.equal(checkVaultUrl('https://mtademo.vault.azure.net', 'x'), 'https://mtademo.vault.azure.net');
    assert.equal(checkVaultUrl('https://mtademo.vault.azure.net/', 'x'), 'https://mtademo.vault.azure.net/');
  });

  it('never echoes a query: shows the origin and says what is wrong', () => {
    const error = vaultRefusal('https://mtademo.vault.azure.net/?sv=2024&sig=SECRETSIG');
    assert.equal(
      error.message,
      'KEY_VAULT_URL "https://mtademo.vault.azure.net" is not a Key Vault URL (https://<vault-name>.vault.azure.net): it must not carry a user name, password, query or fragment',
    );
    assert.doesNotMatch(vaultRefusal('https://mtademo.vault.azure.net/#SECRETFRAG').message, /SECRET/);
    assert.doesNotMatch(vaultRefusal('https://mtademo.vault.azure.net?SECRET').message, /SECRET/);
  });

  it('never echoes credentials', () => {
    const error = vaultRefusal('https://admin:SECRETPW@mtademo.vault.azure.net/');
    assert.match(error.message, /"https:\/\/mtademo\.vault\.azure\.net" .*user name, password/);
    assert.doesNotMatch(error.message, /SECRET|admin/);
  });

  it('echoes nothing of a value that is not a URL, or holds control characters', () => {
    for (const value of ['SECRET-not-a-url', 'https://mtademo.vault.azure.net/\nSECRET', 'SECRET\u0000']) {
      const error = vaultRefusal(value);
      assert.doesNotMatch(error.message, /SECRET/);
      assert.match(error.message, /^KEY_VAULT_URL is not a Key Vault URL/);
    }
  });

  it('names http and a path as the problems', () => {
    assert.match(
      vaultRefusal('http://127.0.0.1:1').message,
      /^KEY_VAULT_URL "http:\/\/127\.0\.0\.1:1" .*must use https/,
    );
    assert.match(
      vaultRefusal('https://mtademo.vault.azure.net/secrets/x').message,
      /"https:\/\/mtademo\.vault\.azure\.net\/secrets\/x" .*must not have a path/,
    );
  });
});
