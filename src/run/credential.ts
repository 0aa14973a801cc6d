import { DefaultAzureCredential } from '@azure/identity';

/**
 * `DefaultAzureCredential`, in a module of its own so that `targets.ts` loads the identity SDK only when a token is
 * first asked for (a dynamic import of this file, which requires the SDK as the rest of the app does).
 */
export function newDefaultAzureCredential(): DefaultAzureCredential {
  return new DefaultAzureCredential();
}
