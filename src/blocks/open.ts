import { resolve } from 'node:path';
import type { TokenCredential } from '@azure/core-auth';
import type { SecretClientOptions } from '@azure/keyvault-secrets';
import { InputError } from '../common/errors';
import { carriesCredentials } from '../common/urls';
import { KeyVaultBlockStore } from './keyvault';
import { type BlockStore, LocalBlockStore } from './store';

const VAULT_URL_EXAMPLE = 'https://<vault-name>.vault.azure.net';

/**
 * A vault URL as Key Vault gives it: https, a host, nothing after it. The error never repeats the value whole:
 * a URL pasted from a portal can carry a SAS signature in its query or a password before its host, so at most its
 * origin and path are shown, and nothing at all when it does not parse.
 */
export function checkVaultUrl(value: string, field: string): string {
  const refuse = (shown: string | undefined, problem: string) =>
    new InputError(
      field,
      `${field}${shown === undefined ? '' : ` "${shown}"`} is not a Key Vault URL (${VAULT_URL_EXAMPLE}): ${problem}`,
    );
  // Checked on the text, not the parsed URL: the parser drops tabs and line breaks and encodes non-ASCII silently.
  if (!/^[\x21-\x7e]+$/.test(value)) {
    throw refuse(undefined, 'it has spaces, control characters or characters outside ASCII');
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw refuse(undefined, 'it is not a URL');
  }
  const isWeb = url.protocol === 'https:' || url.protocol === 'http:';
  const shown = isWeb ? `${url.origin}${url.pathname === '/' ? '' : url.pathname}` : undefined;
  if (url.protocol !== 'https:') throw refuse(shown, 'it must use https');
  if (carriesCredentials(url) || value.includes('?') || value.includes('#')) {
    throw refuse(shown, 'it must not carry a user name, password, query or fragment');
  }
  if (url.pathname !== '/') throw refuse(shown, 'it must not have a path');
  return value;
}

export interface BlockStoreChoice {
  /** Key Vault when given (already checked with `checkVaultUrl`); otherwise the local file. */
  readonly vaultUrl?: string | undefined;
  /** The directory of the local `blocks.json`. */
  readonly dataDir: string;
  /** Asked for lazily: only a vault needs one. */
  readonly credential: () => TokenCredential;
  readonly keyVaultClientOptions?: SecretClientOptions | undefined;
}

/** Key Vault in Azure, `<data-dir>/blocks.json` on a laptop. */
export function openBlockStore(choice: BlockStoreChoice): BlockStore {
  return choice.vaultUrl !== undefined
    ? new KeyVaultBlockStore(choice.vaultUrl, choice.credential(), choice.keyVaultClientOptions)
    : new LocalBlockStore(resolve(choice.dataDir));
}
