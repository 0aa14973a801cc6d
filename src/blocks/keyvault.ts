import type { TokenCredential } from '@azure/identity';
import type { SecretClient, SecretClientOptions } from '@azure/keyvault-secrets';
import { httpStatusOf, messageOf } from '../common/errors';
import { type BlockListing, type BlockStore, type StoredBlock, checkBlockForWrite, storedBlockType } from './store';
import { BlockError, type BlockDocument, type BlockType, isBlockType } from './types';

/** The secret tag that says which schema a secret's value follows; it also marks a secret as a block. */
export const BLOCK_TYPE_TAG = 'block-type';
export const BLOCK_CONTENT_TYPE = 'application/json';

/**
 * Blocks in Azure Key Vault, one secret per block: secret name = block name, value = the document's JSON,
 * tag `block-type` = its type. The whole document is a secret even where only one field is, which keeps a
 * block one atomic, versioned unit.
 */
export class KeyVaultBlockStore implements BlockStore {
  readonly description: string;
  private readonly vaultUrl: string;
  private readonly credential: TokenCredential;
  private readonly clientOptions: SecretClientOptions | undefined;
  /** Made on first use: the Key Vault SDK is loaded only by a process that reads or writes a vault. */
  private secretClient: Promise<SecretClient> | undefined;

  /** `clientOptions` is for tests (a local stand-in) and for tuning retries; production passes none. */
  constructor(vaultUrl: string, credential: TokenCredential, clientOptions?: SecretClientOptions) {
    this.vaultUrl = vaultUrl;
    this.credential = credential;
    this.clientOptions = clientOptions;
    this.description = `Key Vault ${vaultUrl}`;
  }

  private client(): Promise<SecretClient> {
    this.secretClient ??= import('./keyvault-client.js').then(({ secretClient }) =>
      secretClient(this.vaultUrl, this.credential, this.clientOptions),
    );
    return this.secretClient;
  }

  async get(name: string): Promise<StoredBlock | undefined> {
    let secret;
    try {
      secret = await (await this.client()).getSecret(name);
    } catch (error) {
      if (httpStatusOf(error) === 404) return undefined;
      throw this.failure(`could not read block "${name}"`, error);
    }
    const where = `block "${name}" in ${this.description}`;
    const type = storedBlockType(secret.properties.tags?.[BLOCK_TYPE_TAG], where);
    let document: unknown;
    try {
      document = JSON.parse(secret.value ?? '');
    } catch {
      // Not the parser's message: it quotes the value, which is secret. A BlockError: the block is there but
      // broken, which a person must fix, not a store that cannot be reached.
      throw new BlockError(
        `${where} is not valid JSON; rewrite it with: npm run blocks -- put ${name} --type ${type} --file <document.json>`,
      );
    }
    return { type, document };
  }

  async put<T extends BlockType>(name: string, type: T, document: BlockDocument<T>): Promise<void> {
    const checked = checkBlockForWrite(name, type, document);
    try {
      await (
        await this.client()
      ).setSecret(name, JSON.stringify(checked), {
        contentType: BLOCK_CONTENT_TYPE,
        tags: { [BLOCK_TYPE_TAG]: type },
      });
    } catch (error) {
      throw this.failure(`could not write block "${name}"`, error);
    }
  }

  /** Secrets with a `block-type` tag; other secrets in a shared vault are not blocks and are left out. */
  async list(): Promise<BlockListing[]> {
    const blocks: BlockListing[] = [];
    try {
      for await (const properties of (await this.client()).listPropertiesOfSecrets()) {
        const tag = properties.tags?.[BLOCK_TYPE_TAG];
        if (tag === undefined) continue;
        blocks.push({ name: properties.name, type: isBlockType(tag) ? tag : undefined });
      }
    } catch (error) {
      throw this.failure('could not list blocks', error);
    }
    return blocks.sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * The service's status and message, without the SDK error as `cause`: that object carries the request,
   * whose body on a write is the document with its secrets.
   */
  private failure(what: string, error: unknown): Error {
    const status = httpStatusOf(error);
    const message = messageOf(error);
    return new Error(`${this.description}: ${what}${status === undefined ? '' : ` (HTTP ${status})`}: ${message}`);
  }
}
