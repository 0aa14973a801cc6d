import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import type { SecretClientOptions } from '@azure/keyvault-secrets';
import { Argument, type Command, Option } from 'commander';
import { checkVaultUrl, openBlockStore } from '../blocks/open';
import { checkStoredBlock } from '../blocks/reader';
import type { BlockStore } from '../blocks/store';
import {
  BLOCK_NAME_SETTINGS,
  BLOCK_SCHEMAS,
  BLOCK_TYPES,
  type BlockType,
  SECRET_FIELDS,
  blockJsonSchema,
  blockNames,
  checkBlockName,
  maskSecrets,
  validateBlock,
} from '../blocks/types';
import { InputError } from '../common/errors';
import { DEFAULT_DATA_DIR, SETTINGS, readSetting } from '../run/settings';
import { type CliIo, processIo, runAsCommand } from './io';
import { formatJson, newProgram, runProgram } from './shared';

/** What tests replace: the Key Vault credential and client options (the stand-in's TLS trust). */
export interface BlocksCliDeps {
  readonly keyVaultCredential?: TokenCredential;
  readonly keyVaultClientOptions?: SecretClientOptions;
}

interface StoreFlags {
  vaultUrl?: string;
  dataDir: string;
}

/**
 * The store a command works on. Flags beat the environment: `--vault-url`, else `--data-dir`, else
 * KEY_VAULT_URL, else the local file under BNT_DATA_DIR or the default data directory.
 */
function openStore(flags: StoreFlags, command: Command, io: CliIo, deps: BlocksCliDeps): BlockStore {
  const dataDirGiven = command.getOptionValueSource('dataDir') === 'cli';
  if (flags.vaultUrl !== undefined && dataDirGiven) {
    throw new InputError('--vault-url', '--vault-url and --data-dir name two different stores; give one of them');
  }
  const envVaultUrl = readSetting(io.env, 'vaultUrl');
  const vaultUrl =
    flags.vaultUrl !== undefined
      ? checkVaultUrl(flags.vaultUrl, '--vault-url')
      : !dataDirGiven && envVaultUrl !== undefined
        ? checkVaultUrl(envVaultUrl, SETTINGS.vaultUrl)
        : undefined;
  const store = openBlockStore({
    vaultUrl,
    // The same folder the pipeline reads blocks from: --data-dir, else BNT_DATA_DIR, else the default.
    dataDir: resolve(io.cwd, dataDirGiven ? flags.dataDir : (readSetting(io.env, 'dataDir') ?? DEFAULT_DATA_DIR)),
    credential: () => deps.keyVaultCredential ?? new DefaultAzureCredential(),
    keyVaultClientOptions: deps.keyVaultClientOptions,
  });
  // Which store answered is worth seeing: KEY_VAULT_URL in the environment silently changes it.
  io.stderr(`blocks in ${store.description}\n`);
  return store;
}

function addStoreOptions(command: Command): Command {
  return command
    .option(
      '--vault-url <url>',
      `Key Vault holding the blocks (env ${SETTINGS.vaultUrl}); signs in with DefaultAzureCredential`,
    )
    .option(
      '--data-dir <dir>',
      `without a vault: the directory of the local blocks.json (env ${SETTINGS.dataDir})`,
      DEFAULT_DATA_DIR,
    );
}

/** What went wrong in a JSON file, without quoting it: the file may hold secrets, and V8's messages quote. */
function describeJsonError(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : '';
  const positioned = /^(.*) in JSON at position (\d+)/.exec(message);
  if (positioned?.[1] !== undefined && positioned[2] !== undefined) {
    const before = text.slice(0, Number(positioned[2])).split('\n');
    return `${positioned[1].toLowerCase()} at line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
  }
  if (message.startsWith('Unexpected end of JSON input')) return 'it ends before the JSON value does';
  return 'it has an unexpected character';
}

async function readJsonFile(file: string, io: CliIo): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(resolve(io.cwd, file), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'it is a directory'
          : `cannot be read (${code ?? 'unknown error'})`;
    throw new InputError('--file', `--file "${file}": ${reason}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InputError('--file', `--file "${file}" is not valid JSON: ${describeJsonError(text, error)}`);
  }
}

function describeTypes(io: CliIo) {
  const names = blockNames(io.env);
  return BLOCK_TYPES.map((type) => ({
    type,
    description: BLOCK_SCHEMAS[type].description ?? '',
    name: names[type],
    nameSetting: BLOCK_NAME_SETTINGS[type],
    secretFields: SECRET_FIELDS[type].map((path) => path.join('.')),
  }));
}

function buildProgram(io: CliIo, deps: BlocksCliDeps): Command {
  const program = newProgram('blocks', 'Typed settings documents ("blocks") in Key Vault or a local file.', io);

  program
    .command('types')
    .description('list the block types, the block name each is read from, and their secret fields')
    .action(() => {
      io.stdout(formatJson(describeTypes(io)));
    });

  program
    .command('schema')
    .description("print a block type's JSON Schema")
    .addArgument(new Argument('<type>', 'block type').choices(BLOCK_TYPES))
    .action((type: BlockType) => {
      io.stdout(formatJson(blockJsonSchema(type)));
    });

  addStoreOptions(program.command('list').description('list the blocks in the store')).action(
    async (flags: StoreFlags, command: Command) => {
      const blocks = await openStore(flags, command, io, deps).list();
      // null rather than a missing key: the entry is a block, of a type this version does not know.
      io.stdout(formatJson(blocks.map(({ name, type }) => ({ name, type: type ?? null }))));
    },
  );

  addStoreOptions(
    program
      .command('get')
      .description('print a block; secret fields show as "***" unless --show-secrets')
      .argument('<name>', 'block name')
      .option('--show-secrets', 'print secret fields in clear'),
  ).action(async (name: string, flags: StoreFlags & { showSecrets?: boolean }, command: Command) => {
    checkBlockName(name, 'NAME');
    const store = openStore(flags, command, io, deps);
    const stored = await store.get(name);
    if (stored === undefined) throw new InputError('NAME', `there is no block "${name}" in ${store.description}`);
    const document = checkStoredBlock(store, name, stored.type, stored);
    io.stdout(
      formatJson({
        name,
        type: stored.type,
        document: flags.showSecrets ? document : maskSecrets(stored.type, document),
      }),
    );
  });

  addStoreOptions(
    program
      .command('put')
      .description('create or replace a block from a JSON file, after checking it against its type')
      .argument('<name>', 'block name (letters, digits and hyphens)')
      .addOption(new Option('--type <type>', 'block type').choices(BLOCK_TYPES).makeOptionMandatory())
      .requiredOption('--file <file.json>', 'the document'),
  ).action(async (name: string, flags: StoreFlags & { type: BlockType; file: string }, command: Command) => {
    checkBlockName(name, 'NAME');
    const value = await readJsonFile(flags.file, io);
    let document;
    try {
      document = validateBlock(flags.type, value);
    } catch (error) {
      if (error instanceof InputError) {
        throw new InputError(
          error.field,
          `--file "${flags.file}" is not a valid ${flags.type} block: ${error.message}`,
        );
      }
      throw error;
    }
    // Only now is the store opened: a refused document touches nothing, not even a credential.
    const store = openStore(flags, command, io, deps);
    await store.put(name, flags.type, document);
    io.stderr(`wrote ${flags.type} block "${name}"\n`);
  });

  return program;
}

/** Runs the command line; returns the exit code instead of exiting, so tests can call it. */
export async function main(argv: readonly string[], io: CliIo = processIo, deps: BlocksCliDeps = {}): Promise<number> {
  return runProgram(buildProgram(io, deps), argv, io);
}

if (require.main === module) {
  runAsCommand(() => main(process.argv.slice(2)));
}
