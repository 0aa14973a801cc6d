import { z } from 'zod';
import { type ErrorKind, InputError, PipelineError } from '../common/errors';
import { carriesCredentials } from '../common/urls';
import { CONTAINER_NAME, DATABRICKS_HTTP_PATH, HOST_NAME, SQL_IDENTIFIER, STORAGE_ACCOUNT_NAME } from '../common/names';

/**
 * Blocks: the named, typed settings documents that replace the original flow's Prefect Blocks. Each type
 * is a strict schema (an unknown field is refused, so a typo cannot silently fall back to a default), and
 * every identifier that ends up in a URL or a SQL statement is held to a pattern here, on write and on read.
 */

/**
 * A block that is missing, of the wrong type or invalid: terminal, since retrying reads the same document. A
 * blocks file that cannot be read as blocks at all is an input error (see `BlocksFileError`).
 */
export class BlockError extends PipelineError {
  override readonly name: string = 'BlockError';

  constructor(message: string, kind: ErrorKind = 'terminal') {
    super(kind, message);
  }
}

/**
 * Quotes a refused value for an error message; long values are cut so a pasted blob cannot flood a log, and every
 * character outside printable ASCII is escaped so none can move a terminal's cursor or hide in a log line.
 */
function quoted(value: unknown): string {
  const text = (JSON.stringify(value) ?? String(value)).replace(
    /[^\x20-\x7e]/g,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Values that go into request headers and URLs: visible ASCII only. A control character makes the HTTP client throw
 * an error that quotes the whole header (token included); non-ASCII is not a valid header byte either.
 */
const HEADER_SAFE = /^[\x21-\x7e]+$/;

/** A string held to `pattern`; the message repeats the refused value (only used for non-secret fields). */
function patterned(pattern: RegExp, what: string) {
  return z.string().regex(pattern, { error: (issue) => `${quoted(issue.input)} is not ${what}` });
}

/**
 * A secret that is sent in a request header: visible ASCII, no spaces. Checked on write and on every read, so a
 * token with a control character never reaches a request. Its messages never repeat the value.
 */
function secret(description: string) {
  return z
    .string()
    .regex(HEADER_SAFE, {
      error:
        'must be non-empty printable ASCII, without spaces, line breaks or control characters (it is sent in a request header)',
    })
    .meta({ description, writeOnly: true });
}

/**
 * An emulator endpoint such as Azurite's. No user name, password, query or fragment: those are where SAS
 * tokens and keys hide, and this field is not treated as a secret (it is printed and logged).
 */
function isPlainHttpUrl(value: string): boolean {
  // The URL parser silently drops tabs and line breaks and encodes non-ASCII, so the text itself is checked too.
  if (!HEADER_SAFE.test(value)) return false;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return (
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    !carriesCredentials(url) &&
    !value.includes('?') &&
    !value.includes('#')
  );
}

export const azureContainerSchema = z
  .strictObject({
    accountName: patterned(STORAGE_ACCOUNT_NAME, 'a storage account name (3-24 lowercase letters and digits)').meta({
      description: 'Storage account (ADLS Gen2) holding the stage.',
    }),
    container: patterned(
      CONTAINER_NAME,
      'a container name (3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit)',
    ).meta({ description: 'Blob container for staged files.' }),
    endpoint: z
      .string()
      .refine(isPlainHttpUrl, {
        error:
          'must be an http(s) URL in printable ASCII without spaces, user name, password, query or fragment, e.g. http://127.0.0.1:10000/devstoreaccount1',
      })
      .optional()
      .meta({
        description: 'Only for emulators such as Azurite; Azure uses https://<accountName>.blob.core.windows.net.',
        format: 'uri',
      }),
  })
  .meta({ title: 'azure-container', description: 'Where staged files go in Azure Blob Storage.' });

export const lakehouseTableSchema = z
  .strictObject({
    catalog: patterned(
      SQL_IDENTIFIER,
      'a plain identifier (a letter or _, then letters, digits or _; at most 128)',
    ).meta({
      description: 'Unity Catalog catalog.',
    }),
    schema: patterned(
      SQL_IDENTIFIER,
      'a plain identifier (a letter or _, then letters, digits or _; at most 128)',
    ).meta({
      description: 'Schema inside the catalog; the dataset definition names the table.',
    }),
    format: z.enum(['iceberg', 'delta-uniform']).meta({
      description: 'iceberg: managed Iceberg table; delta-uniform: Delta with UniForm Iceberg reads.',
    }),
  })
  .meta({ title: 'lakehouse-table', description: 'Where the loaded table lives in the lakehouse.' });

export const databricksWarehouseSchema = z
  .strictObject({
    host: patterned(
      HOST_NAME,
      'a bare host name (e.g. adb-1234567890123456.7.azuredatabricks.net, without https://, port or path)',
    ).meta({ description: 'Workspace host name.' }),
    httpPath: patterned(
      DATABRICKS_HTTP_PATH,
      'a SQL warehouse HTTP path (/sql/1.0/warehouses/<id>, or /sql/protocolv1/o/<org>/<cluster> for a cluster)',
    ).meta({ description: "The warehouse's HTTP path from its connection details." }),
    auth: z
      .discriminatedUnion(
        'type',
        [
          z.strictObject({ type: z.literal('entra') }).meta({
            description: 'Microsoft Entra ID token from DefaultAzureCredential (managed identity in Azure).',
          }),
          z.strictObject({
            type: z.literal('pat'),
            token: secret('Personal access token.'),
          }),
        ],
        // Only the "no such type" case; a non-object auth keeps the general "must be an object".
        { error: (issue) => (issue.code === 'invalid_union' ? 'must be "entra" or "pat"' : undefined) },
      )
      .meta({ description: 'How to authenticate to the warehouse.' }),
  })
  .meta({ title: 'databricks-warehouse', description: 'The Databricks SQL warehouse that runs the load.' });

/**
 * Far above any real Socrata app token (about 25 characters), far below what a server refuses as too large a header
 * (HTTP 431): a longer value is a paste gone wrong, refused before any request.
 */
export const MAX_APP_TOKEN_LENGTH = 200;

export const socrataSourceSchema = z
  .strictObject({
    appToken: secret('Socrata app token (X-App-Token); without one, requests share a per-IP throttle.')
      .max(MAX_APP_TOKEN_LENGTH, {
        error: `is longer than any Socrata app token (at most ${MAX_APP_TOKEN_LENGTH} characters; real ones have about 25)`,
      })
      .optional(),
  })
  .meta({ title: 'socrata-source', description: 'Settings for the Socrata SODA source.' });

/** The one map from block type to schema; every other per-type table below is checked against its keys. */
export const BLOCK_SCHEMAS = {
  'azure-container': azureContainerSchema,
  'lakehouse-table': lakehouseTableSchema,
  'databricks-warehouse': databricksWarehouseSchema,
  'socrata-source': socrataSourceSchema,
} as const;

export type BlockType = keyof typeof BLOCK_SCHEMAS;
export type AzureContainerBlock = z.infer<typeof azureContainerSchema>;
export type LakehouseTableBlock = z.infer<typeof lakehouseTableSchema>;
export type DatabricksWarehouseBlock = z.infer<typeof databricksWarehouseSchema>;
export type SocrataSourceBlock = z.infer<typeof socrataSourceSchema>;
/** Block type → the document type it validates to. */
export type BlockDocuments = { [T in BlockType]: z.infer<(typeof BLOCK_SCHEMAS)[T]> };
export type BlockDocument<T extends BlockType> = BlockDocuments[T];

export const BLOCK_TYPES: readonly BlockType[] = Object.freeze(Object.keys(BLOCK_SCHEMAS) as BlockType[]);

export function isBlockType(value: unknown): value is BlockType {
  return typeof value === 'string' && Object.hasOwn(BLOCK_SCHEMAS, value);
}

/**
 * The secret fields, as paths into the document: the only place that says what is secret. Masking, and
 * the rule that messages never repeat a value, follow from it.
 */
export const SECRET_FIELDS: { readonly [T in BlockType]: readonly (readonly string[])[] } = {
  'azure-container': [],
  'lakehouse-table': [],
  'databricks-warehouse': [['auth', 'token']],
  'socrata-source': [['appToken']],
};

export const MASK = '***';

/** A copy of `document` with every secret field that is present replaced by "***". */
export function maskSecrets<T extends BlockType>(type: T, document: BlockDocument<T>): BlockDocument<T>;
export function maskSecrets(type: BlockType, document: unknown): unknown;
export function maskSecrets(type: BlockType, document: unknown): unknown {
  const copy: unknown = structuredClone(document);
  for (const path of SECRET_FIELDS[type]) {
    let parent: unknown = copy;
    for (const key of path.slice(0, -1)) parent = isRecord(parent) ? parent[key] : undefined;
    const last = path.at(-1);
    if (last !== undefined && isRecord(parent) && Object.hasOwn(parent, last)) parent[last] = MASK;
  }
  return copy;
}

function isSecretPath(type: BlockType, path: readonly PropertyKey[]): boolean {
  return SECRET_FIELDS[type].some(
    (secretPath) => secretPath.length === path.length && secretPath.every((key, i) => key === path[i]),
  );
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function pathText(path: readonly PropertyKey[]): string {
  return path.length === 0 ? 'document' : path.map(String).join('.');
}

/**
 * The wording for zod's own checks (missing fields, wrong JSON types, enums); field-specific messages are
 * set on the schemas. Values are repeated only where the field is not secret.
 */
function messageFor(type: BlockType, issue: z.core.$ZodRawIssue): string | undefined {
  const secretField = isSecretPath(type, issue.path ?? []);
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `must be ${issue.expected === 'object' ? 'an' : 'a'} ${issue.expected} (got ${kindOf(issue.input)})`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}${secretField ? '' : ` (got ${quoted(issue.input)})`}`;
    default:
      return undefined;
  }
}

/** One line per problem, each led by the path of the field, e.g. `auth.token: is required`. */
function describeIssues(type: BlockType, issues: readonly z.core.$ZodIssue[]): { field: string; lines: string[] } {
  const problems: { path: readonly PropertyKey[]; message: string }[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        problems.push({ path: [...issue.path, key], message: `unknown field (see: npm run blocks -- schema ${type})` });
      }
    } else {
      problems.push({ path: issue.path, message: issue.message });
    }
  }
  return {
    field: pathText(problems[0]?.path ?? []),
    lines: problems.map(({ path, message }) => `${pathText(path)}: ${message}`),
  };
}

/** The typed document, or an InputError naming the path of each offending field. */
export function validateBlock<T extends BlockType>(type: T, value: unknown): BlockDocument<T> {
  const schema: z.ZodType<BlockDocument<T>> = BLOCK_SCHEMAS[type] as unknown as z.ZodType<BlockDocument<T>>;
  const result = schema.safeParse(value, { error: (issue) => messageFor(type, issue) });
  if (result.success) return result.data;
  const { field, lines } = describeIssues(type, result.error.issues);
  throw new InputError(field, lines.join('; '));
}

/** The JSON Schema (draft 2020-12) of a block type, for editors and for `npm run blocks -- schema`. */
export function blockJsonSchema(type: BlockType): Record<string, unknown> {
  return z.toJSONSchema(BLOCK_SCHEMAS[type]);
}

/**
 * The block rule for a secret given outside a block (`--app-token`, `SOCRATA_APP_TOKEN`), so a flag cannot carry what
 * a block may not: printable ASCII without spaces. The error names the field and never repeats the value.
 */
export function checkHeaderSecret(value: string, field: string): string {
  if (!HEADER_SAFE.test(value)) {
    throw new InputError(
      field,
      `${field} must be non-empty printable ASCII, without spaces, line breaks or control characters (it is sent in a request header)`,
    );
  }
  return value;
}

/** The rule for an app token given as a flag or setting: a header-safe secret, and no longer than any real token. */
export function checkAppToken(value: string, field: string): string {
  checkHeaderSecret(value, field);
  if (value.length > MAX_APP_TOKEN_LENGTH) {
    throw new InputError(
      field,
      `${field} has ${value.length} characters, more than any Socrata app token (at most ${MAX_APP_TOKEN_LENGTH}; real ones have about 25); is it the right value?`,
    );
  }
  return value;
}

/** Key Vault secret names; local blocks follow the same rule so they can move to a vault unchanged. */
export const BLOCK_NAME_PATTERN = /^[0-9a-zA-Z-]{1,127}$/;

export function checkBlockName(name: string, field: string): string {
  if (!BLOCK_NAME_PATTERN.test(name)) {
    throw new InputError(
      field,
      `${field} ${quoted(name)} is not a valid block name (1-127 letters, digits and hyphens, as Key Vault secret names)`,
    );
  }
  return name;
}

/** The original flow's block names. */
export const DEFAULT_BLOCK_NAMES: { readonly [T in BlockType]: string } = {
  'azure-container': 'mtademo-container',
  'lakehouse-table': 'mtademo-iceberg',
  'databricks-warehouse': 'mtademo-databricks',
  'socrata-source': 'mtademo-socrata',
};

/** The setting (environment variable / app setting) that renames each block. */
export const BLOCK_NAME_SETTINGS: { readonly [T in BlockType]: string } = {
  'azure-container': 'BLOCK_AZURE_CONTAINER',
  'lakehouse-table': 'BLOCK_LAKEHOUSE_TABLE',
  'databricks-warehouse': 'BLOCK_DATABRICKS_WAREHOUSE',
  'socrata-source': 'BLOCK_SOCRATA_SOURCE',
};

export type BlockNames = { readonly [T in BlockType]: string };

/** The block name to read for each type: the setting when present and non-empty, else the original's name. */
export function blockNames(env: Readonly<Record<string, string | undefined>>): BlockNames {
  const names = {} as { [T in BlockType]: string };
  for (const type of BLOCK_TYPES) {
    const setting = BLOCK_NAME_SETTINGS[type];
    const override = env[setting];
    // An empty app setting means "not set", as it does for the Functions host.
    names[type] =
      override === undefined || override === '' ? DEFAULT_BLOCK_NAMES[type] : checkBlockName(override, setting);
  }
  return names;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
