import type { TokenCredential } from '@azure/core-auth';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';

/**
 * The Key Vault SDK's client, in a module of its own so that `keyvault.ts` loads the SDK only when a vault is used
 * (a dynamic import of this file, which requires the SDK as the rest of the app does).
 */
export function secretClient(
  vaultUrl: string,
  credential: TokenCredential,
  options: SecretClientOptions | undefined,
): SecretClient {
  return new SecretClient(vaultUrl, credential, options);
}
