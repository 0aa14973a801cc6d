import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { describeError } from '../common/errors';
import { BlockError, type BlockDocument, type BlockType, checkBlockName, isBlockType, validateBlock } from './types';

/** A block as a store holds it: the document is checked against its type by the reader, not here. */
export interface StoredBlock {
  readonly type: BlockType;
  readonly document: unknown;
}

export interface BlockListing {
  readonly name: string;
  /** Undefined when the stored type is not one this version knows. */
  readonly type: BlockType | undefined;
}

/** Where blocks live: Key Vault in Azure, a local file for development. */
export interface BlockStore {
  /** For messages, e.g. `Key Vault https://x.vault.azure.net`; never holds a secret. */
  readonly description: string;
  /** Undefined when there is no block of that name. */
  get(name: string): Promise<StoredBlock | undefined>;
  /** Validates the name and the document first: an invalid block is never written. */
  put<T extends BlockType>(name: string, type: T, document: BlockDocument<T>): Promise<void>;
  list(): Promise<BlockListing[]>;
}

/**
 * The checks every store makes before writing, so no caller can store a block that would fail on read.
 * Returns the document as the schema parsed it.
 */
export function checkBlockForWrite<T extends BlockType>(name: string, type: T, document: unknown): BlockDocument<T> {
  checkBlockName(name, 'block name');
  if (!isBlockType(type)) throw new Error(`"${String(type)}" is not a block type`);
  return validateBlock(type, document);
}

/** The stored type, or a `BlockError` that says what is wrong with it; `where` names the block and its store. */
export function storedBlockType(tag: unknown, where: string): BlockType {
  if (isBlockType(tag)) return tag;
  if (tag === undefined) throw new BlockError(`${where} is not a block: it has no block type`);
  throw new BlockError(`${where} has block type ${JSON.stringify(tag)}, which this version does not know`);
}

/**
 * The local blocks file exists but cannot be used: unreadable, not JSON, or not shaped like a blocks file. A
 * `BlockError`, so a run fails on it (a person must fix the file) instead of going on as if no block were stored.
 */
export class BlocksFileError extends BlockError {
  /** The absolute path of the file. */
  readonly file: string;

  constructor(file: string, message: string) {
    // A file the user edited by hand into something unreadable: fixed by the user, like a bad flag.
    super(message, 'input');
    this.file = file;
  }
}

const blocksFileSchema = z.record(z.string(), z.object({ type: z.string(), document: z.unknown() }));
type BlocksFile = z.infer<typeof blocksFileSchema>;

/**
 * The development store: every block in one JSON file, `<data-dir>/blocks.json`, as
 * `{ "<name>": { "type": "...", "document": { ... } } }`. It holds secrets in clear text, so it is created
 * readable by its owner only, and `.local/` is git-ignored.
 */
export class LocalBlockStore implements BlockStore {
  readonly file: string;
  readonly description: string;
  /** Puts from this process queue here, so two puts cannot both read the old file and lose one block. */
  private writes: Promise<unknown> = Promise.resolve();

  constructor(dataDir: string) {
    this.file = resolve(dataDir, 'blocks.json');
    this.description = `local file ${this.file}`;
  }

  async get(name: string): Promise<StoredBlock | undefined> {
    const entry = (await this.readFile())[name];
    if (entry === undefined) return undefined;
    return { type: storedBlockType(entry.type, `block "${name}" in ${this.description}`), document: entry.document };
  }

  async put<T extends BlockType>(name: string, type: T, document: BlockDocument<T>): Promise<void> {
    const checked = checkBlockForWrite(name, type, document);
    const write = this.writes.then(async () => {
      const blocks = await this.readFile();
      blocks[name] = { type, document: checked };
      await this.writeFile(blocks);
    });
    // A failed put must not block the ones after it; its caller still sees the failure.
    this.writes = write.catch(() => undefined);
    return write;
  }

  async list(): Promise<BlockListing[]> {
    return Object.entries(await this.readFile())
      .map(([name, entry]) => ({ name, type: isBlockType(entry.type) ? entry.type : undefined }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  private async readFile(): Promise<BlocksFile> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return {};
      throw new BlocksFileError(
        this.file,
        `${this.description} cannot be read (${code ?? describeError(error)}); make it a readable file or remove it`,
      );
    }
    // Neither error below carries the parser's message: it can quote the file, and the file holds secrets.
    let json: unknown;
    try {
      // An editor may save a byte order mark, which JSON.parse refuses; it is not part of the document.
      json = JSON.parse(text.replace(/^\uFEFF/, ''));
    } catch {
      throw new BlocksFileError(this.file, `${this.description} is not valid JSON; fix or remove it`);
    }
    const parsed = blocksFileSchema.safeParse(json);
    if (!parsed.success) {
      const where = parsed.error.issues[0]?.path.map(String).join('.') || 'the top level';
      throw new BlocksFileError(
        this.file,
        `${this.description} is not a blocks file (expected { "<name>": { "type", "document" } }; problem at ${where}); fix or remove it`,
      );
    }
    // A null-prototype copy, so a block named like an Object.prototype member is just a name.
    return Object.assign(Object.create(null) as BlocksFile, parsed.data);
  }

  /** Through a temporary file and a rename, so a reader never sees half a file and a crash loses nothing. */
  private async writeFile(blocks: BlocksFile): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    const temporary = `${this.file}.${process.pid}.${randomUUID()}.tmp`;
    try {
      await writeFile(temporary, `${JSON.stringify(blocks, null, 2)}\n`, { encoding: 'utf8', mode: 0o600 });
      await rename(temporary, this.file);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }
}
