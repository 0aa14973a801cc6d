/**
 * A local stand-in for the part of the Socrata SODA 2 API (as served by data.ny.gov) that our
 * client uses, so unit/integration tests and the benchmark never need the internet.
 *
 * What it imitates:
 *  - `GET /resource/<id>.json` answering a JSON array of row objects whose values are all strings
 *    and where a null field is left out of the object;
 *  - `$limit` (default 1000, > 50000 rejected with 400), `$offset`, `$order`, `$where`, `$select`
 *    (plain columns, or `count(*)`, `count(col)`, `max(col)`, `min(col)` with optional `AS alias`),
 *    and SODA "simple filters" (`?column=value`);
 *  - SoQL error bodies (`query.soql.*` codes) and the `X-SODA2-Fields`/`X-SODA2-Types`/`Last-Modified`
 *    response headers.
 * On top of that a test can queue faults (HTTP errors, truncated bodies, connection resets,
 * delays, redirects), for the next request or for the next one asking for a given page (`failOn`), hold
 * answers until several requests wait together (`answerTogether`), and inspect every request that arrived,
 * with how many were in flight when it did; and a dataset can misbehave the way a real API sometimes does: pages that ignore `$order` (shuffled, reversed, a few rows sent last) or a column
 * renamed upstream. A dataset id may carry a path prefix (`mirror/qzve-kjga` is served at
 * `/mirror/resource/qzve-kjga.json`), so one server can stand for several bases.
 *
 * Speed matters because the benchmark pages through ~350k rows: the sorted row order is computed
 * once per `$order`, the filtered row list once per (`$where`, `$order`), and both are cached, so
 * paging with an increasing `$offset` is a slice plus one JSON.stringify. The benchmark also sends
 * a new `$where` window for every chunk; when some of its AND-ed terms compare the leading `$order`
 * column (or, without `$order`, any column) with <, <=, =, >=, >, the matching rows are one span of
 * that sorted order, found by binary search, and only the other terms are checked row by row.
 *
 * A dataset may also be generated instead of stored (`GeneratedDataset`): a fixed number of rows per day, made
 * when a page asks for them, so a test can page through years of history without holding millions of rows.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

export type SocrataType = 'text' | 'number' | 'floating_timestamp';

export interface TestDataset {
  /** Column name -> type, in column order. */
  fields: Record<string, SocrataType>;
  /** Rows as the API would send them (strings; a missing key is a null value). */
  rows: ReadonlyArray<Record<string, string>>;
  /** Sent as `Last-Modified`; defaults to the moment the server started. */
  lastModified?: Date;
  /** How the dataset's answers misbehave; every page of a query misbehaves the same way, so paging stays stable. */
  misbehave?: Misbehaviour;
}

/**
 * Rows made on demand: `rowsPerDay` rows for every day of [firstDate, stopDate), in the order of the window field
 * (the window field of day `day` is `${day}T…`, and `row` must keep a day's rows in the order the client asks for).
 * It answers what the pipeline asks of a window — `count(*)`, `max(<window field>)`, and pages of the window's rows
 * with `:id` — over `$where <window field> >= '…' AND <window field> < '…'` at midnights; `$order` is taken to be the
 * pipeline's own (window field first), which the rows already follow.
 */
export interface GeneratedDataset {
  fields: Record<string, SocrataType>;
  windowField: string;
  firstDate: string;
  stopDate: string;
  rowsPerDay: number;
  /** The `index`-th row (0-based) of `day` (`YYYY-MM-DD`), values as strings. */
  row(day: string, index: number): Record<string, string>;
}

export interface Misbehaviour {
  /**
   * `$order` not honoured: `shuffled` (a fixed pseudo-random order), `reversed`, `{ late }` (the first `late`
   * rows of the order asked come last, as from a replica that caught up), or `{ sortedOn }` (sorted on these
   * columns only, ties in stored order: a key's twins need not be adjacent).
   */
  order?: 'shuffled' | 'reversed' | { late: number } | { sortedOn: string[] };
  /** Columns sent under another name (`{ plaza_id: 'plaza' }`), as after a rename upstream. */
  rename?: Record<string, string>;
}

export type Fault =
  /** Answer with this status and JSON body (a string body is sent as-is, as text/plain). */
  | { kind: 'status'; status: number; body?: unknown; retryAfterSeconds?: number }
  /** Send 200 and the first half of the real body, then end the response: invalid JSON. */
  | { kind: 'truncate' }
  /** Destroy the socket without any response: a network error for the client. */
  | { kind: 'reset' }
  /** Answer normally, but only after `ms` milliseconds. */
  | { kind: 'delay'; ms: number }
  /** Never answer: the connection stays open and silent until the client gives up. */
  | { kind: 'stall' }
  /** Send 200 and the real body one byte every `intervalMs`: a source that is alive but useless. */
  | { kind: 'drip'; intervalMs: number }
  /** Send 200 and a JSON array of `bytes` bytes (one huge string row): more than any page can hold. */
  | { kind: 'huge'; bytes: number }
  /** Answer `status` (301, 302, 307, 308) with `Location: <toBase><path>?<query>` of the request. */
  | { kind: 'redirect'; status: number; toBase: string };

export interface RecordedRequest {
  /** URL path without the query string, e.g. `/resource/abcd-1234.json`. */
  path: string;
  /** Decoded query parameters (the last one wins if a name repeats). */
  params: Record<string, string>;
  /** Request headers with lower-case names; repeated headers are joined with ", ". */
  headers: Record<string, string | undefined>;
  /** Resource requests being answered when this one arrived, itself included (0 for other paths). */
  inFlight: number;
  /** `Date.now()` when it arrived. */
  receivedAt: number;
}

export interface SocrataTestServer {
  readonly baseUrl: string;
  /** The base under a path prefix: `${baseUrl}/${prefix}`, where datasets `<prefix>/<id>` are served. */
  baseFor(prefix: string): string;
  /**
   * How many filtered row lists were found by binary search on a sorted order (the range search)
   * rather than by checking every row; cached answers are not counted again.
   */
  readonly rangeSearches: number;
  resourceUrl(datasetId: string): string;
  /** Every request received, in order, including faulted ones. */
  readonly requests: RecordedRequest[];
  /** Queue faults; each one is applied to one later resource request, in order. */
  failNext(...faults: Fault[]): void;
  /**
   * Queue faults for later resource requests whose query parameters include `match` (e.g. `{ $offset: '300' }`),
   * one request each, in order: a page's fault, whatever order concurrent pages arrive in.
   */
  failOn(match: Record<string, string>, ...faults: Fault[]): void;
  /**
   * Holds the next `count` resource requests that include `match` until all of them have arrived, then answers
   * them: requests that were sent side by side are then in flight together, however the machine schedules them.
   * Held requests are answered anyway after `timeoutMs` (default 5 s), so a client that sends fewer never hangs.
   */
  answerTogether(count: number, match?: Record<string, string>, timeoutMs?: number): void;
  /** The most resource requests that were in flight at once, over the requests recorded. */
  readonly maxInFlight: number;
  /** How long every resource request waits before its answer (the `latencyMs` option); may be changed between runs. */
  latencyMs: number;
  /** Faults queued but not yet applied. */
  readonly pendingFaults: number;
  close(): Promise<void>;
}

/** Largest `$limit` accepted; some SODA deployments reject anything above it. */
export const MAX_LIMIT = 50_000;
/** `$limit` used when the request has none, as in SODA 2. */
export const DEFAULT_LIMIT = 1_000;
/** The system column holding a stable, unique row id. */
export const ROW_ID_COLUMN = ':id';

export interface SocrataServerOptions {
  /**
   * Find the rows of a `$where` by binary search on a sorted order when it can (default true).
   * Only tests turn it off, to check that both ways give the same answers.
   */
  rangeSearch?: boolean;
  /** Every resource request waits this long before its answer, as a real API's round trip does (the benchmark). */
  latencyMs?: number;
  /**
   * Keep every successful answer, by dataset and query, and send it again when the same query comes (the benchmark):
   * a real API's work happens on its own machines, so the stand-in's should not compete with the client's for the
   * same cores. Up to 1 GB of answers.
   */
  cacheAnswers?: boolean;
}

export async function startSocrataServer(
  datasets: Record<string, TestDataset | GeneratedDataset>,
  options: SocrataServerOptions = {},
): Promise<SocrataTestServer> {
  const server = new SocrataServer(
    datasets,
    options.rangeSearch ?? true,
    options.latencyMs ?? 0,
    options.cacheAnswers ?? false,
  );
  await server.listen();
  return server;
}

// ---------------------------------------------------------------------------------------------
// Errors in SODA's shape
// ---------------------------------------------------------------------------------------------

class SodaError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  toBody(): string {
    return JSON.stringify({ code: this.code, error: true, message: this.message, data: {} });
  }
}

const noSuchColumn = (name: string) => new SodaError(400, 'query.soql.no-such-column', `No such column: ${name}`);
const malformed = (message: string) => new SodaError(400, 'query.soql.malformed', message);
const typeMismatch = (message: string) => new SodaError(400, 'query.soql.type-mismatch', message);
const datasetNotFound = () => new SodaError(404, 'not_found', 'Dataset not found');

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/** A value prepared for comparison: number for number columns, canonical string otherwise. */
type Key = string | number | undefined;

const TIMESTAMP = /^(\d{4}-\d{2}-\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?$/;

/**
 * Floating timestamps are stored as `2024-05-30T00:00:00.000`, but SoQL accepts shorter literals
 * such as `2024-05-30T00:00:00` or `2024-05-30`. Padding both sides to milliseconds makes plain
 * string comparison order them correctly.
 */
export function canonicalTimestamp(text: string): string | undefined {
  const match = TIMESTAMP.exec(text);
  if (!match) return undefined;
  const [, date, hours = '00', minutes = '00', seconds = '00', fraction = ''] = match;
  return `${date}T${hours}:${minutes}:${seconds}.${fraction.padEnd(3, '0').slice(0, 3)}`;
}

/** Turns a stored string into its comparison key; unparseable values behave like null. */
function keyOf(type: SocrataType, raw: string | undefined): Key {
  if (raw === undefined) return undefined;
  switch (type) {
    case 'number': {
      const value = Number(raw);
      return raw.trim() === '' || Number.isNaN(value) ? undefined : value;
    }
    case 'floating_timestamp':
      return canonicalTimestamp(raw);
    case 'text':
      return raw;
  }
}

/** Null (undefined) sorts before every value; both sides otherwise share one JS type. */
function compareKeys(a: Key, b: Key): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function memoise<T>(compute: (input: string) => T): (input: string) => T {
  const results = new Map<string, T>();
  return (input) => {
    if (results.has(input)) return results.get(input) as T;
    const result = compute(input);
    results.set(input, result);
    return result;
  };
}

/** `:id` values are padded so that their string order is the row order. */
function rowIdOf(index: number): string {
  return `row-${String(index).padStart(8, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// Query parsing
// ---------------------------------------------------------------------------------------------

type CompareOp = '=' | '!=' | '<' | '<=' | '>' | '>=';

interface Condition {
  column: string;
  op: CompareOp;
  /** Literal converted to the column's key type. */
  value: string | number;
}

interface OrderTerm {
  column: string;
  descending: boolean;
}

interface SelectedColumn {
  source: string;
  alias: string;
}

interface Aggregate {
  fn: 'count' | 'max' | 'min';
  /** `null` for `count(*)`. */
  column: string | null;
  alias: string;
}

type Selection =
  /** `columns === null` means every dataset field, as stored (the fast path). */
  { kind: 'rows'; columns: SelectedColumn[] | null } | { kind: 'aggregate'; items: Aggregate[] };

interface Query {
  limit: number;
  offset: number;
  where: Condition[];
  order: OrderTerm[];
  selection: Selection;
}

/** What a query needs to know about the dataset's columns. */
interface ColumnTypes {
  typeOf(column: string): SocrataType; // throws no-such-column
}

type Token =
  | { kind: 'identifier'; text: string }
  | { kind: 'string'; text: string }
  | { kind: 'number'; text: string }
  | { kind: 'operator'; text: CompareOp }
  | { kind: 'and' };

// One alternative per token kind; the sticky flag makes exec() match exactly at lastIndex.
const WHERE_TOKEN =
  /\s*(?:'((?:[^']|'')*)'|(-?\d+(?:\.\d+)?)(?![\w.])|(>=|<=|!=|<>|=|>|<)|`([^`]+)`|(:?[A-Za-z_]\w*))\s*/y;

function tokenizeWhere(text: string): Token[] {
  const tokens: Token[] = [];
  WHERE_TOKEN.lastIndex = 0;
  while (WHERE_TOKEN.lastIndex < text.length) {
    const start = WHERE_TOKEN.lastIndex;
    const match = WHERE_TOKEN.exec(text);
    if (!match) throw malformed(`Could not parse $where at position ${start + 1}: ${text.slice(start, start + 20)}`);
    const [, quoted, numeric, operator, backticked, word] = match;
    if (quoted !== undefined) tokens.push({ kind: 'string', text: quoted.replaceAll("''", "'") });
    else if (numeric !== undefined) tokens.push({ kind: 'number', text: numeric });
    else if (operator !== undefined)
      tokens.push({ kind: 'operator', text: operator === '<>' ? '!=' : (operator as CompareOp) });
    else if (backticked !== undefined) tokens.push({ kind: 'identifier', text: backticked });
    else if (word !== undefined && word.toLowerCase() === 'and') tokens.push({ kind: 'and' });
    else if (word !== undefined) tokens.push({ kind: 'identifier', text: word });
    else break; // unreachable: a match always captures one of the groups above
  }
  return tokens;
}

/** Converts a literal to the key type of the column it is compared with, as SoQL would coerce it. */
function literalFor(column: string, type: SocrataType, literal: Token): string | number {
  const shown = literal.kind === 'string' ? `'${literal.text}'` : 'text' in literal ? literal.text : 'AND';
  const mismatch = () => typeMismatch(`Type mismatch: cannot compare ${type} column ${column} with ${shown}`);
  if (literal.kind !== 'string' && literal.kind !== 'number')
    throw malformed(`Expected a literal after ${column}, got ${shown}`);
  switch (type) {
    case 'number': {
      const value = Number(literal.text);
      if (literal.text.trim() === '' || Number.isNaN(value)) throw mismatch();
      return value;
    }
    case 'floating_timestamp': {
      const value = literal.kind === 'string' ? canonicalTimestamp(literal.text) : undefined;
      if (value === undefined) throw mismatch();
      return value;
    }
    case 'text':
      if (literal.kind !== 'string') throw mismatch();
      return literal.text;
  }
}

/** Parses `col op literal [AND col op literal ...]`: the only $where shape our client sends. */
function parseWhere(text: string, columns: ColumnTypes): Condition[] {
  const tokens = tokenizeWhere(text);
  const conditions: Condition[] = [];
  for (let at = 0; ; at += 4) {
    const [column, operator, literal, next] = [tokens[at], tokens[at + 1], tokens[at + 2], tokens[at + 3]];
    if (column?.kind !== 'identifier') throw malformed(`Expected a column name in $where: ${text}`);
    const type = columns.typeOf(column.text);
    if (operator?.kind !== 'operator') throw malformed(`Expected a comparison after ${column.text} in $where: ${text}`);
    if (literal === undefined)
      throw malformed(`Expected a literal after ${column.text} ${operator.text} in $where: ${text}`);
    conditions.push({ column: column.text, op: operator.text, value: literalFor(column.text, type, literal) });
    if (next === undefined) return conditions;
    if (next.kind !== 'and') throw malformed(`Expected AND or the end of $where: ${text}`);
  }
}

/** SODA simple filters (`?column=value`) are equality conditions on that column. */
function simpleFilter(column: string, value: string, columns: ColumnTypes): Condition {
  const type = columns.typeOf(column);
  return { column, op: '=', value: literalFor(column, type, { kind: 'string', text: value }) };
}

const ORDER_TERM = /^(:?[A-Za-z_]\w*)(?:\s+(asc|desc))?$/i;

function parseOrder(text: string, columns: ColumnTypes): OrderTerm[] {
  return text.split(',').map((part) => {
    const match = ORDER_TERM.exec(part.trim());
    const [, column, direction] = match ?? [];
    if (column === undefined) throw malformed(`Could not parse $order term: ${part.trim()}`);
    columns.typeOf(column);
    return { column, descending: direction?.toLowerCase() === 'desc' };
  });
}

const AGGREGATE_ITEM = /^(count|max|min)\s*\(\s*(\*|:?[A-Za-z_]\w*)\s*\)(?:\s+as\s+([A-Za-z_]\w*))?$/i;
const COLUMN_ITEM = /^(\*|:?[A-Za-z_]\w*)(?:\s+as\s+([A-Za-z_]\w*))?$/i;

function parseAggregate(match: RegExpExecArray, columns: ColumnTypes): Aggregate {
  const [, name = '', argument = '', alias] = match;
  const fn = name.toLowerCase() as Aggregate['fn'];
  if (argument === '*') {
    if (fn !== 'count') throw malformed(`${fn}(*) is not allowed`);
    return { fn, column: null, alias: alias ?? 'count' };
  }
  columns.typeOf(argument);
  // SODA names an unaliased aggregate `<fn>_<column>`, e.g. max(date) -> max_date.
  return { fn, column: argument, alias: alias ?? `${fn}_${argument}` };
}

function parseSelect(text: string, datasetFields: string[], columns: ColumnTypes): Selection {
  const aggregates: Aggregate[] = [];
  const plain: SelectedColumn[] = [];
  for (const rawItem of text.split(',')) {
    const item = rawItem.trim();
    const aggregate = AGGREGATE_ITEM.exec(item);
    const column = aggregate ? null : COLUMN_ITEM.exec(item);
    if (aggregate) aggregates.push(parseAggregate(aggregate, columns));
    else if (column?.[1] === '*') plain.push(...datasetFields.map((name) => ({ source: name, alias: name })));
    else if (column?.[1] !== undefined) {
      columns.typeOf(column[1]);
      plain.push({ source: column[1], alias: column[2] ?? column[1] });
    } else throw malformed(`Could not parse $select item: ${item}`);
  }
  // Without $group, SODA refuses to mix aggregates with plain columns.
  if (aggregates.length > 0 && plain.length > 0)
    throw malformed('Cannot mix aggregates and plain columns without $group');
  if (aggregates.length > 0) return { kind: 'aggregate', items: aggregates };
  // Our client selects every field by name on each page; the stored rows already are that answer.
  const asStored =
    plain.length === datasetFields.length &&
    plain.every((c, i) => c.source === datasetFields[i] && c.alias === c.source);
  return { kind: 'rows', columns: asStored ? null : plain };
}

function parseCount(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text.trim())) throw typeMismatch(`${name} must be a non-negative integer, got: ${text}`);
  return Number(text);
}

function parseQuery(params: URLSearchParams, datasetFields: string[], columns: ColumnTypes): Query {
  const limit = parseCount('$limit', params.get('$limit') ?? undefined, DEFAULT_LIMIT);
  if (limit > MAX_LIMIT) {
    throw new SodaError(400, 'query.soql.limit-too-large', `$limit must be at most ${MAX_LIMIT}, got ${limit}`);
  }
  const query: Query = {
    limit,
    offset: parseCount('$offset', params.get('$offset') ?? undefined, 0),
    where: [],
    order: [],
    selection: { kind: 'rows', columns: null },
  };
  for (const [name, value] of params) {
    if (name === '$where') query.where.push(...parseWhere(value, columns));
    else if (name === '$order') query.order = parseOrder(value, columns);
    else if (name === '$select') query.selection = parseSelect(value, datasetFields, columns);
    else if (name === '$limit' || name === '$offset' || name === '$$app_token') continue;
    // Fail loudly on SoQL features we do not imitate, rather than silently ignoring them.
    else if (name.startsWith('$')) throw malformed(`Unsupported parameter in this test server: ${name}`);
    else query.where.push(simpleFilter(name, value, columns));
  }
  return query;
}

// ---------------------------------------------------------------------------------------------
// Query execution over one dataset
// ---------------------------------------------------------------------------------------------

/** A small insertion-ordered cache that forgets its oldest entry when full. */
class BoundedCache<V> {
  private readonly entries = new Map<string, V>();
  constructor(private readonly capacity: number) {}

  /** The most recently added entry that satisfies `test`, if any. */
  findLatest(test: (value: V) => boolean): V | undefined {
    let found: V | undefined;
    for (const value of this.entries.values()) if (test(value)) found = value;
    return found;
  }

  getOrCompute(key: string, compute: () => V): V {
    const cached = this.entries.get(key);
    if (cached !== undefined) return cached;
    const value = compute();
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, value);
    return value;
  }
}

interface Answer {
  body: string;
  fields: string[];
  types: string[];
}

class ServedDataset implements Answering {
  readonly fieldNames: string[];
  readonly lastModified: Date;
  /** Filtered row lists found by range search (see {@link SocrataTestServer.rangeSearches}). */
  rangeSearches = 0;
  private readonly keys = new Map<string, Key[]>();
  private readonly ranks = new Map<string, Int32Array>();
  /** Per column, its distinct keys in ascending order: rank -> key. */
  private readonly distinct = new Map<string, Key[]>();
  /** Row indices sorted by an `$order`, keyed by the parsed terms. */
  private readonly sortedRows = new BoundedCache<SortedRows>(8);
  /** Row indices passing a `$where`, in `$order` order. */
  private readonly matchingRows = new BoundedCache<Uint32Array>(32);

  constructor(
    private readonly data: TestDataset,
    serverStart: Date,
    private readonly rangeSearch: boolean,
  ) {
    this.fieldNames = Object.keys(data.fields);
    this.lastModified = data.lastModified ?? serverStart;
  }

  typeOf(column: string): SocrataType {
    if (column === ROW_ID_COLUMN) return 'text';
    const type = this.data.fields[column];
    if (type === undefined) throw noSuchColumn(column);
    return type;
  }

  answer(query: Query): Answer {
    // count() is the same over the matching rows in any order; max()/min() return the first row
    // holding the extreme key (stored strings can differ for equal keys), so they need row order.
    const anyOrder = query.selection.kind === 'aggregate' && query.selection.items.every((item) => item.fn === 'count');
    const misorder = this.data.misbehave?.order;
    const order =
      query.selection.kind === 'rows' && typeof misorder === 'object' && 'sortedOn' in misorder
        ? misorder.sortedOn.map((column) => ({ column, descending: false }))
        : query.order;
    const matching = this.rowsMatching(query.where, order, anyOrder);
    if (query.selection.kind === 'aggregate') return this.aggregateAnswer(query.selection.items, matching, query);
    const ordered = this.misordered(matching);
    const answer = this.rowsAnswer(query.selection.columns, ordered.subarray(query.offset, query.offset + query.limit));
    return this.renamed(answer);
  }

  /** The rows in the order the misbehaving dataset sends them instead of the order asked. */
  private misordered(matching: Uint32Array): Uint32Array {
    const order = this.data.misbehave?.order;
    if (order === undefined || (typeof order === 'object' && 'sortedOn' in order)) return matching;
    if (order === 'reversed') return matching.slice().reverse();
    if (order === 'shuffled') {
      // A fixed permutation (Fisher–Yates over a small LCG), so every page of one query agrees.
      const shuffled = matching.slice();
      let seed = 12345;
      for (let at = shuffled.length - 1; at > 0; at -= 1) {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        const other = seed % (at + 1);
        [shuffled[at], shuffled[other]] = [shuffled[other] ?? 0, shuffled[at] ?? 0];
      }
      return shuffled;
    }
    const late = Math.min(order.late, matching.length);
    const result = new Uint32Array(matching.length);
    result.set(matching.subarray(late), 0);
    result.set(matching.subarray(0, late), matching.length - late);
    return result;
  }

  private renamed(answer: Answer): Answer {
    const rename = this.data.misbehave?.rename;
    if (rename === undefined) return answer;
    const rows = (JSON.parse(answer.body) as Record<string, string>[]).map((row) =>
      Object.fromEntries(Object.entries(row).map(([name, value]) => [rename[name] ?? name, value])),
    );
    return { ...answer, body: JSON.stringify(rows), fields: answer.fields.map((name) => rename[name] ?? name) };
  }

  private raw(index: number, column: string): string | undefined {
    return column === ROW_ID_COLUMN ? rowIdOf(index) : this.data.rows[index]?.[column];
  }

  /** Comparison keys of a column, computed once per column. */
  private keysOf(column: string): Key[] {
    let keys = this.keys.get(column);
    if (keys === undefined) {
      const type = this.typeOf(column);
      // Timestamps repeat hundreds of times (one per row of a day) and parsing them is the slow
      // part, so each distinct stored string is parsed once.
      const toKey =
        type === 'floating_timestamp' ? memoise((raw: string) => keyOf(type, raw)) : (raw: string) => keyOf(type, raw);
      keys = this.data.rows.map((_, index) => {
        const raw = this.raw(index, column);
        return raw === undefined ? undefined : toKey(raw);
      });
      this.keys.set(column, keys);
    }
    return keys;
  }

  /**
   * Each row's position among the column's distinct values (null = 0). Sorting by comparing
   * these small integers is several times faster than comparing mixed strings and numbers.
   */
  private ranksOf(column: string): Int32Array {
    let ranks = this.ranks.get(column);
    if (ranks === undefined) {
      // `:id` is unique and already in row order: its rank is the row index.
      if (column === ROW_ID_COLUMN) {
        ranks = Int32Array.from(this.data.rows, (_, index) => index);
        // Padded ids sort as strings in row order, so the keys already are the distinct keys.
        this.distinct.set(column, this.keysOf(column));
      } else {
        const keys = this.keysOf(column);
        const distinct = [...new Set(keys)].sort(compareKeys);
        const rankOf = new Map(distinct.map((key, rank) => [key, rank]));
        ranks = Int32Array.from(keys, (key) => rankOf.get(key) ?? 0);
        this.distinct.set(column, distinct);
      }
      this.ranks.set(column, ranks);
    }
    return ranks;
  }

  /** The column's distinct keys in ascending order, indexed by rank (null, if present, is last: see searchRange). */
  private distinctOf(column: string): Key[] {
    this.ranksOf(column);
    return this.distinct.get(column) ?? [];
  }

  private sortedBy(order: OrderTerm[]): SortedRows {
    return this.sortedRows.getOrCompute(JSON.stringify(order), () => ({ order, rows: this.sort(order) }));
  }

  private sort(order: OrderTerm[]): Uint32Array {
    // One ascending term (the sort the range search builds for itself): a counting sort by rank.
    const [only] = order;
    if (order.length === 1 && only !== undefined && !only.descending) {
      return countingSort(this.ranksOf(only.column), this.distinctOf(only.column).length);
    }
    const indices = Array.from(this.data.rows, (_, index) => index);
    const terms = order.map((term) => ({ ranks: this.ranksOf(term.column), sign: term.descending ? -1 : 1 }));
    indices.sort((a, b) => {
      for (const { ranks, sign } of terms) {
        const difference = (ranks[a] ?? 0) - (ranks[b] ?? 0);
        if (difference !== 0) return sign * difference;
      }
      return a - b; // ties keep input order, so `:id` need not be sorted explicitly
    });
    return Uint32Array.from(indices);
  }

  /**
   * Row indices passing every condition, in `$order` order (row order without `$order`). With
   * `anyOrder`, an answer without `$order` may come in any order (the caller only counts rows).
   */
  private rowsMatching(where: Condition[], order: OrderTerm[], anyOrder: boolean): Uint32Array {
    if (where.length === 0) return this.sortedBy(order).rows;
    const unordered = anyOrder && order.length === 0;
    return this.matchingRows.getOrCompute(JSON.stringify([where, order, unordered]), () => {
      const found = this.rangeSearch ? this.searchRange(where, order) : undefined;
      if (found === undefined) return this.filter(this.sortedBy(order).rows, where);
      this.rangeSearches += 1;
      const matching = found.rest.length === 0 ? found.span : this.filter(found.span, found.rest);
      if (order.length > 0 || unordered) return matching;
      // Without $order the answer is in row order; the span came from some column's order.
      return (matching === found.span ? matching.slice() : matching).sort();
    });
  }

  private filter(rows: Uint32Array, where: Condition[]): Uint32Array {
    const tests = where.map((condition) => ({ ...condition, keys: this.keysOf(condition.column) }));
    return rows.filter((index) => tests.every(({ keys, op, value }) => satisfies(keys[index], op, value)));
  }

  /**
   * When some conditions bound the leading column of a sorted order (`$order`'s, or without
   * `$order` a cached or new sort on a bounded column), the rows passing them are one span of that
   * order: returns the span, found by binary search, and the conditions still to check.
   */
  private searchRange(where: Condition[], order: OrderTerm[]): { span: Uint32Array; rest: Condition[] } | undefined {
    const bounded = (column: string) => where.some((condition) => condition.column === column && condition.op !== '!=');
    let sorted: SortedRows | undefined;
    if (order.length > 0) {
      if (bounded(order[0]?.column ?? '')) sorted = this.sortedBy(order);
    } else {
      sorted = this.sortedRows.findLatest((cached) => bounded(cached.order[0]?.column ?? ''));
      const column = where.find((condition) => condition.op !== '!=')?.column;
      if (sorted === undefined && column !== undefined) sorted = this.sortedBy([{ column, descending: false }]);
    }
    const leading = sorted?.order[0];
    if (sorted === undefined || leading === undefined) return undefined;

    // The bounds as a span of ranks [low, high); a null key never satisfies a comparison, so its
    // rank is left out. (Array.prototype.sort puts undefined last whatever the comparator says, so
    // null actually has the highest rank; both ends are checked to not depend on that.)
    const distinct = this.distinctOf(leading.column);
    let low = distinct[0] === undefined ? 1 : 0;
    let high =
      distinct.length > low && distinct[distinct.length - 1] === undefined ? distinct.length - 1 : distinct.length;
    const rest: Condition[] = [];
    for (const condition of where) {
      if (condition.column !== leading.column || condition.op === '!=') {
        rest.push(condition);
        continue;
      }
      const { op, value } = condition;
      // First rank whose key is >= value, and first whose key is > value.
      const atLeast = () => firstTrue(low, high, (rank) => (distinct[rank] as string | number) >= value);
      const above = () => firstTrue(low, high, (rank) => (distinct[rank] as string | number) > value);
      if (op === '>=') low = atLeast();
      else if (op === '>') low = above();
      else if (op === '<') high = atLeast();
      else if (op === '<=') high = above();
      else [low, high] = [atLeast(), above()];
      if (low >= high) return { span: new Uint32Array(0), rest: [] };
    }

    // Along the sorted rows the leading ranks rise (ASC) or fall (DESC) monotonically.
    const ranks = this.ranksOf(leading.column);
    const rows = sorted.rows;
    const rankAt = (position: number) => ranks[rows[position] ?? 0] ?? 0;
    const [start, end] = leading.descending
      ? [firstTrue(0, rows.length, (at) => rankAt(at) < high), firstTrue(0, rows.length, (at) => rankAt(at) < low)]
      : [firstTrue(0, rows.length, (at) => rankAt(at) >= low), firstTrue(0, rows.length, (at) => rankAt(at) >= high)];
    return { span: rows.subarray(start, end), rest };
  }

  private rowsAnswer(columns: SelectedColumn[] | null, page: Uint32Array): Answer {
    const rows = this.data.rows;
    if (columns === null) {
      const slice = Array.from(page, (index) => rows[index]);
      return {
        body: JSON.stringify(slice),
        fields: this.fieldNames,
        types: this.fieldNames.map((name) => this.typeOf(name)),
      };
    }
    const projected = Array.from(page, (index) => {
      const row: Record<string, string> = {};
      for (const { source, alias } of columns) {
        const value = this.raw(index, source);
        if (value !== undefined) row[alias] = value; // SODA leaves nulls out
      }
      return row;
    });
    return {
      body: JSON.stringify(projected),
      fields: columns.map((column) => column.alias),
      types: columns.map((column) => this.typeOf(column.source)),
    };
  }

  private aggregateAnswer(items: Aggregate[], matching: Uint32Array, query: Query): Answer {
    const row: Record<string, string> = {};
    for (const item of items) {
      const value = this.aggregate(item, matching);
      if (value !== undefined) row[item.alias] = value; // e.g. max over no rows is null: left out
    }
    // An aggregate without $group is one row; $offset/$limit still apply to it.
    const rows = [row].slice(query.offset, query.offset + query.limit);
    return {
      body: JSON.stringify(rows),
      fields: items.map((item) => item.alias),
      types: items.map((item) => (item.fn === 'count' || item.column === null ? 'number' : this.typeOf(item.column))),
    };
  }

  private aggregate({ fn, column }: Aggregate, matching: Uint32Array): string | undefined {
    if (column === null) return String(matching.length);
    const keys = this.keysOf(column);
    if (fn === 'count')
      return String(matching.reduce((count, index) => count + (keys[index] === undefined ? 0 : 1), 0));
    const wanted = fn === 'max' ? 1 : -1;
    let best: number | undefined;
    for (const index of matching) {
      if (keys[index] === undefined) continue;
      if (best === undefined || compareKeys(keys[index], keys[best]) * wanted > 0) best = index;
    }
    // The stored string is returned, as SODA does (e.g. "2025-04-12T00:00:00.000").
    return best === undefined ? undefined : this.raw(best, column);
  }
}

const DAY_MS = 86_400_000;
const dayNumber = (date: string) => Date.parse(`${date}T00:00:00Z`) / DAY_MS;
const dayText = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);

/** A `GeneratedDataset` served: counts by arithmetic, pages made when asked for, nothing stored. */
class GeneratedRows implements Answering {
  readonly fieldNames: string[];
  readonly rangeSearches = 0;
  private readonly first: number;
  private readonly stop: number;

  constructor(
    private readonly data: GeneratedDataset,
    readonly lastModified: Date,
  ) {
    this.fieldNames = Object.keys(data.fields);
    this.first = dayNumber(data.firstDate);
    this.stop = dayNumber(data.stopDate);
  }

  typeOf(column: string): SocrataType {
    if (column === ROW_ID_COLUMN) return 'text';
    const type = this.data.fields[column];
    if (type === undefined) throw noSuchColumn(column);
    return type;
  }

  answer(query: Query): Answer {
    const { from, to } = this.days(query.where);
    const perDay = this.data.rowsPerDay;
    const total = Math.max(0, to - from) * perDay;
    if (query.selection.kind === 'aggregate') {
      const row: Record<string, string> = {};
      for (const item of query.selection.items) {
        if (item.fn === 'count' && item.column === null) row[item.alias] = String(total);
        else if (item.column === this.data.windowField && item.fn !== 'count') {
          const day = item.fn === 'max' ? to - 1 : from;
          const value =
            total > 0 ? this.data.row(dayText(day), item.fn === 'max' ? perDay - 1 : 0)[item.column] : undefined;
          if (value !== undefined) row[item.alias] = value;
        } else throw malformed(`a generated dataset answers count(*) and min/max of ${this.data.windowField} only`);
      }
      return { body: JSON.stringify([row]), fields: Object.keys(row), types: Object.keys(row).map(() => 'text') };
    }
    const columns = query.selection.columns ?? this.fieldNames.map((name) => ({ source: name, alias: name }));
    const rows: Record<string, string>[] = [];
    for (let at = query.offset; at < Math.min(total, query.offset + query.limit); at += 1) {
      const day = from + Math.floor(at / perDay);
      const index = at % perDay;
      const generated = this.data.row(dayText(day), index);
      const row: Record<string, string> = {};
      for (const { source, alias } of columns) {
        const value = source === ROW_ID_COLUMN ? rowIdOf((day - this.first) * perDay + index) : generated[source];
        if (value !== undefined) row[alias] = value;
      }
      rows.push(row);
    }
    return {
      body: JSON.stringify(rows),
      fields: columns.map((column) => column.alias),
      types: columns.map((column) => this.typeOf(column.source)),
    };
  }

  /** The days `$where` keeps: `>=` and `<` on the window field at midnights, within the dataset's dates. */
  private days(where: Condition[]): { from: number; to: number } {
    let [from, to] = [this.first, this.stop];
    for (const { column, op, value } of where) {
      const text = String(value);
      if (column !== this.data.windowField || !text.endsWith('T00:00:00.000') || (op !== '>=' && op !== '<')) {
        throw malformed(`a generated dataset filters on ${this.data.windowField} >= and < at midnight only`);
      }
      const day = dayNumber(text.slice(0, 10));
      if (op === '>=') from = Math.max(from, day);
      else to = Math.min(to, day);
    }
    return { from, to };
  }
}

interface SortedRows {
  order: OrderTerm[];
  rows: Uint32Array;
}

/** The first integer in [from, to) for which `test` holds, or `to`; `test` must be false then true. */
function firstTrue(from: number, to: number, test: (at: number) => boolean): number {
  let [low, high] = [from, to];
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (test(middle)) high = middle;
    else low = middle + 1;
  }
  return low;
}

/** Row indices by ascending rank, ties in row order: what the comparison sort gives for one ASC term. */
function countingSort(ranks: Int32Array, rankCount: number): Uint32Array {
  const starts = new Uint32Array(rankCount + 1);
  for (const rank of ranks) starts[rank + 1] = (starts[rank + 1] ?? 0) + 1;
  for (let rank = 1; rank <= rankCount; rank += 1) starts[rank] = (starts[rank] ?? 0) + (starts[rank - 1] ?? 0);
  const sorted = new Uint32Array(ranks.length);
  ranks.forEach((rank, index) => {
    const at = starts[rank] ?? 0;
    sorted[at] = index;
    starts[rank] = at + 1;
  });
  return sorted;
}

/** SQL semantics: a comparison with null is never true. */
function satisfies(key: Key, op: CompareOp, value: string | number): boolean {
  if (key === undefined) return false;
  switch (op) {
    case '=':
      return key === value;
    case '!=':
      return key !== value;
    case '<':
      return key < value;
    case '<=':
      return key <= value;
    case '>':
      return key > value;
    case '>=':
      return key >= value;
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** `/resource/<id>.json`, or `/<prefix>/resource/<id>.json` for a dataset registered as `<prefix>/<id>`. */
const RESOURCE_PATH = /^\/(?:(.+)\/)?resource\/([^/]+)\.json$/;
const JSON_TYPE = 'application/json; charset=utf-8';

function errorReply(error: SodaError): Reply {
  return { status: error.status, headers: { 'Content-Type': JSON_TYPE }, body: error.toBody() };
}

function faultReply(fault: Extract<Fault, { kind: 'status' }>): Reply {
  const headers: Record<string, string> = {};
  if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds);
  // A string body lets a test imitate a gateway's HTML/text error page.
  if (typeof fault.body === 'string')
    return {
      status: fault.status,
      headers: { ...headers, 'Content-Type': 'text/plain; charset=utf-8' },
      body: fault.body,
    };
  const body = fault.body ?? {
    code: 'injected_fault',
    error: true,
    message: http.STATUS_CODES[fault.status] ?? 'Injected fault',
    data: {},
  };
  return { status: fault.status, headers: { ...headers, 'Content-Type': JSON_TYPE }, body: JSON.stringify(body) };
}

function recordOf(request: http.IncomingMessage, url: URL, inFlight: number): RecordedRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(request.headers))
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  return {
    path: url.pathname,
    params: Object.fromEntries(url.searchParams),
    headers,
    inFlight,
    receivedAt: Date.now(),
  };
}

/** What the server answers a dataset's queries with: stored rows, or rows generated on demand. */
interface Answering extends ColumnTypes {
  readonly fieldNames: string[];
  readonly lastModified: Date;
  readonly rangeSearches: number;
  answer(query: Query): Answer;
}

interface QueuedFault {
  fault: Fault;
  match: Record<string, string> | undefined;
}

/** Requests held by `answerTogether` until `count` of them have arrived. */
interface Gathering {
  count: number;
  match: Record<string, string> | undefined;
  held: (() => void)[];
  timer: NodeJS.Timeout;
}

const matches = (params: URLSearchParams, match: Record<string, string> | undefined) =>
  match === undefined || Object.entries(match).every(([name, value]) => params.get(name) === value);

class SocrataServer implements SocrataTestServer {
  readonly requests: RecordedRequest[] = [];
  private readonly faults: QueuedFault[] = [];
  private readonly gatherings: Gathering[] = [];
  private readonly datasets = new Map<string, Answering>();
  private readonly delayTimers = new Set<NodeJS.Timeout>();
  private readonly server = http.createServer((request, response) => this.handle(request, response));
  private address: AddressInfo | undefined;
  private inFlight = 0;
  private readonly answers = new Map<string, Reply>();
  private answerBytes = 0;

  constructor(
    datasets: Record<string, TestDataset | GeneratedDataset>,
    rangeSearch: boolean,
    public latencyMs: number,
    private readonly cacheAnswers: boolean,
  ) {
    const start = new Date();
    for (const [id, dataset] of Object.entries(datasets)) {
      this.datasets.set(
        id,
        'rows' in dataset ? new ServedDataset(dataset, start, rangeSearch) : new GeneratedRows(dataset, start),
      );
    }
  }

  get rangeSearches(): number {
    let total = 0;
    for (const dataset of this.datasets.values()) total += dataset.rangeSearches;
    return total;
  }

  get maxInFlight(): number {
    return this.requests.reduce((most, request) => Math.max(most, request.inFlight), 0);
  }

  get baseUrl(): string {
    if (this.address === undefined) throw new Error('Socrata test server is not listening');
    return `http://127.0.0.1:${this.address.port}`;
  }

  get pendingFaults(): number {
    return this.faults.length;
  }

  baseFor(prefix: string): string {
    return `${this.baseUrl}/${prefix}`;
  }

  resourceUrl(datasetId: string): string {
    const slash = datasetId.lastIndexOf('/');
    const prefix = slash < 0 ? '' : `/${datasetId.slice(0, slash)}`;
    return `${this.baseUrl}${prefix}/resource/${datasetId.slice(slash + 1)}.json`;
  }

  failNext(...faults: Fault[]): void {
    this.faults.push(...faults.map((fault) => ({ fault, match: undefined })));
  }

  failOn(match: Record<string, string>, ...faults: Fault[]): void {
    this.faults.push(...faults.map((fault) => ({ fault, match })));
  }

  answerTogether(count: number, match?: Record<string, string>, timeoutMs = 5_000): void {
    const gathering: Gathering = {
      count,
      match,
      held: [],
      timer: setTimeout(() => this.release(gathering), timeoutMs),
    };
    this.gatherings.push(gathering);
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.address = this.server.address() as AddressInfo;
        resolve();
      });
    });
  }

  close(): Promise<void> {
    for (const timer of this.delayTimers) clearTimeout(timer);
    this.delayTimers.clear();
    for (const gathering of this.gatherings) clearTimeout(gathering.timer);
    this.gatherings.length = 0;
    return new Promise((resolve, reject) => {
      this.server.close((error) => (error ? reject(error) : resolve()));
      // Keep-alive connections from fetch would otherwise hold close() open for seconds.
      this.server.closeAllConnections();
    });
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    response.on('error', () => {}); // a client that went away is not the server's problem
    request.resume();
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const match = RESOURCE_PATH.exec(url.pathname);
    if (match !== null) {
      this.inFlight += 1;
      response.once('close', () => (this.inFlight -= 1));
    }
    this.requests.push(recordOf(request, url, match === null ? 0 : this.inFlight));
    if (match === null) return send(response, errorReply(new SodaError(404, 'not_found', 'Not found')));
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return send(
        response,
        errorReply(new SodaError(405, 'method_not_allowed', `Method ${request.method} not allowed`)),
      );
    }
    const id = match[1] === undefined ? (match[2] ?? '') : `${match[1]}/${match[2] ?? ''}`;
    const answer = () => this.cachedReply(id, url);
    const queued = this.faults.findIndex((entry) => matches(url.searchParams, entry.match));
    const fault = queued < 0 ? undefined : this.faults.splice(queued, 1)[0]?.fault;
    const respond = () => {
      if (fault === undefined && this.latencyMs > 0)
        return this.later(this.latencyMs, () => send(response, answer()), response);
      if (fault === undefined) return send(response, answer());
      this.applyFault(fault, request, response, answer, url);
    };
    const gathering = this.gatherings.find((candidate) => matches(url.searchParams, candidate.match));
    if (gathering === undefined) return respond();
    gathering.held.push(respond);
    if (gathering.held.length >= gathering.count) this.release(gathering);
  }

  private release(gathering: Gathering): void {
    clearTimeout(gathering.timer);
    const at = this.gatherings.indexOf(gathering);
    if (at >= 0) this.gatherings.splice(at, 1);
    for (const respond of gathering.held.splice(0)) respond();
  }

  /** Runs `then` after `ms` unless the client went away or the server closed. */
  private later(ms: number, then: () => void, response: http.ServerResponse): void {
    const timer = setTimeout(() => {
      this.delayTimers.delete(timer);
      if (!response.destroyed) then();
    }, ms);
    this.delayTimers.add(timer);
  }

  private applyFault(
    fault: Fault,
    request: http.IncomingMessage,
    response: http.ServerResponse,
    answer: () => Reply,
    url: URL,
  ): void {
    switch (fault.kind) {
      case 'status':
        return send(response, faultReply(fault));
      case 'reset':
        request.socket.destroy();
        return;
      case 'truncate': {
        const reply = answer();
        // No Content-Length: the response ends cleanly (chunked), only the JSON is incomplete.
        response.writeHead(200, { ...reply.headers, 'Content-Type': JSON_TYPE });
        response.end(reply.body.slice(0, Math.floor(reply.body.length / 2)));
        return;
      }
      case 'delay':
        return this.later(fault.ms, () => send(response, answer()), response);
      case 'stall':
        return;
      case 'drip': {
        const body = answer().body;
        response.writeHead(200, { 'Content-Type': JSON_TYPE });
        let sent = 0;
        const next = () => {
          if (sent >= body.length) return void response.end();
          response.write(body.slice(sent, sent + 1));
          sent += 1;
          this.later(fault.intervalMs, next, response);
        };
        return next();
      }
      case 'redirect':
        return send(response, {
          status: fault.status,
          headers: { Location: `${fault.toBase}${url.pathname}${url.search}` },
          body: '',
        });
      case 'huge': {
        response.writeHead(200, { 'Content-Type': JSON_TYPE });
        const chunk = 'x'.repeat(64 * 1024);
        response.write('[{"plaza_id":"');
        for (let written = 0; written < fault.bytes; written += chunk.length) response.write(chunk);
        response.end('"}]');
        return;
      }
    }
  }

  private cachedReply(id: string, url: URL): Reply {
    if (!this.cacheAnswers) return this.reply(id, url.searchParams);
    const key = `${id}?${url.search}`;
    const cached = this.answers.get(key);
    if (cached) return cached;
    const reply = this.reply(id, url.searchParams);
    if (reply.status === 200 && this.answerBytes + reply.body.length < 1024 ** 3) {
      this.answers.set(key, reply);
      this.answerBytes += reply.body.length;
    }
    return reply;
  }

  private reply(encodedId: string, params: URLSearchParams): Reply {
    try {
      const dataset = this.datasets.get(decodeURIComponentOrEmpty(encodedId));
      if (dataset === undefined) throw datasetNotFound();
      const result = dataset.answer(parseQuery(params, dataset.fieldNames, dataset));
      return {
        status: 200,
        headers: {
          'Content-Type': JSON_TYPE,
          'X-SODA2-Fields': JSON.stringify(result.fields),
          'X-SODA2-Types': JSON.stringify(result.types),
          'Last-Modified': dataset.lastModified.toUTCString(),
        },
        body: result.body,
      };
    } catch (error) {
      if (error instanceof SodaError) return errorReply(error);
      // A bug in this server must show up in the test that hit it, not crash the test process.
      return errorReply(new SodaError(500, 'internal_error', `Test server error: ${String(error)}`));
    }
  }
}

function decodeURIComponentOrEmpty(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return ''; // malformed escapes name no dataset
  }
}

function send(response: http.ServerResponse, reply: Reply): void {
  response.writeHead(reply.status, { ...reply.headers, 'Content-Length': String(Buffer.byteLength(reply.body)) });
  response.end(reply.body);
}
