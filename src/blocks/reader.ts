import { InputError } from '../common/errors';
import type { BlockStore, StoredBlock } from './store';
import { BlockError, type BlockDocument, type BlockType, validateBlock } from './types';

/** A block that is missing, of another type, or invalid: something a person must fix, never a passing fault. */
export { BlockError };

/**
 * Checks a stored block against the type the caller expects. Errors name the block and its store and
 * say how to fix it; they never include a document, so no secret reaches a log.
 */
export function checkStoredBlock<T extends BlockType>(
  store: Pick<BlockStore, 'description'>,
  name: string,
  type: T,
  stored: StoredBlock | undefined,
): BlockDocument<T> {
  const where = `block "${name}" in ${store.description}`;
  const fix = `npm run blocks -- put ${name} --type ${type} --file <document.json>`;
  if (stored === undefined) throw new BlockError(`${where} does not exist; create it with: ${fix}`);
  if (stored.type !== type)
    throw new BlockError(`${where} is a ${stored.type} block, but a ${type} block is needed here`);
  try {
    return validateBlock(type, stored.document);
  } catch (error) {
    if (error instanceof InputError)
      throw new BlockError(`${where} is not a valid ${type} block: ${error.message}; fix it with: ${fix}`);
    throw error;
  }
}

/** One read straight from the store, checked against `type`. */
export async function readBlock<T extends BlockType>(
  store: BlockStore,
  name: string,
  type: T,
): Promise<BlockDocument<T>> {
  return checkStoredBlock(store, name, type, await store.get(name));
}

export interface BlockReaderOptions {
  /** How long a block read from the store is reused; default 5 minutes. */
  readonly ttlMs?: number;
  /** Milliseconds since the epoch; injectable so tests can move time. */
  readonly now?: () => number;
}

export const DEFAULT_BLOCK_TTL_MS = 5 * 60 * 1000;

/**
 * Reads blocks through a short cache, so a Functions instance running many activities asks Key Vault once
 * per block every few minutes rather than on every activity (Key Vault throttles, and each call costs
 * latency). Keep one per process. A change to a block is seen within the TTL; errors and missing blocks
 * are not cached, so a fix is seen on the next read.
 */
export class BlockReader {
  private readonly ttlMs: number;
  private readonly now: () => number;
  /** The pending or settled store read per name; concurrent reads of one block share one request. */
  private readonly entries = new Map<
    string,
    { readonly expiresAt: number; readonly block: Promise<StoredBlock | undefined> }
  >();

  constructor(
    readonly store: BlockStore,
    options: BlockReaderOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? DEFAULT_BLOCK_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  /** The block, checked against `type` on every call; each caller gets its own copy of the document. */
  async read<T extends BlockType>(name: string, type: T): Promise<BlockDocument<T>> {
    return this.checked(name, (stored) => checkStoredBlock(this.store, name, type, stored));
  }

  /** Like `read`, but a block that does not exist is undefined: for blocks that only add optional settings. */
  async readOptional<T extends BlockType>(name: string, type: T): Promise<BlockDocument<T> | undefined> {
    return this.checked(name, (stored) =>
      stored === undefined ? undefined : checkStoredBlock(this.store, name, type, stored),
    );
  }

  private async checked<R>(name: string, check: (stored: StoredBlock | undefined) => R): Promise<R> {
    const now = this.now();
    let entry = this.entries.get(name);
    if (entry === undefined || now >= entry.expiresAt) {
      entry = { expiresAt: now + this.ttlMs, block: this.store.get(name) };
      this.entries.set(name, entry);
    }
    try {
      const stored = await entry.block;
      // A missing block is not cached either: creating it takes effect on the next read.
      if (stored === undefined && this.entries.get(name) === entry) this.entries.delete(name);
      return check(stored);
    } catch (error) {
      // Unless a newer read replaced it meanwhile, drop what failed so the next call asks the store again.
      if (this.entries.get(name) === entry) this.entries.delete(name);
      throw error;
    }
  }
}
