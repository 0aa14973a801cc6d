import { resolve } from 'node:path';
import type { TokenCredential } from '@azure/core-auth';
import type { SecretClientOptions } from '@azure/keyvault-secrets';
import { InputError } from '../common/errors';
import { KeyVaultBlockStore } from './keyvault';
import { type BlockStore, LocalBlockStore } from './store';

/** A vault URL as Key Vault gives it: https, a host, nothing after it. */
export function checkVaultUrl(value: string, field: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  const plain =
    url !== undefined &&
    url.protocol === 'https:' &&
    url.username === '' &&
    url.password === '' &&
    url.search === '' &&
    url.hash === '';
  if (!plain || (url !== undefined && url.pathname !== '/')) {
    throw new InputError(field, `${field} "${value}" is not a Key Vault URL (https://<vault-name>.vault.azure.net)`);
  }
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
