import { InputError, TerminalError, TransientError, describeError } from '../common/errors';
import { type AttemptContext, type RetryEvent, type RetryPolicy, reportWhileWaiting, withRetry } from '../common/retry';
import { formatCount } from '../common/format';
import { carriesCredentials, safeUrl } from '../common/urls';
import type { DatasetDefinition } from './datasets';
import { pageOrder } from './datasets';
import { InFlightLimit, type Slot } from './in-flight';
import { BodyBuffers, PageBody, invalidJson, looksLikeJsonArray, parseRows, readInto } from './page-body';
import type { SourceRecord } from './records';
import { type Window, checkedDate } from './window';

/** Socrata's system field: a stable, unique id per row. */
export const ROW_ID = ':id';

/** Some Socrata deployments refuse larger pages with HTTP 400; 50,000 is safe everywhere. */
export const MAX_PAGE_SIZE = 50_000;

/** Page requests in flight at once by default, and at most (the `BNT_PAGES_IN_FLIGHT` setting, `--pages-in-flight`). */
export const DEFAULT_PAGES_IN_FLIGHT = 4;
export const MAX_PAGES_IN_FLIGHT = 8;
/**
 * Of the rows a dataset's estimate expects in a window, the share whose pages go out beside the count, before it
 * answers: only pages an estimate twice the truth still fills are asked for unseen, so a wrong estimate costs at most
 * a dropped page, never a wrong result (the count still decides where paging ends).
 */
export const EARLY_PAGES_SHARE = 0.5;

/**
 * How long one source request may take and how long the source is retried, together: a stalled or dripping
 * source is given up on about three minutes after the first try, not after six two-minute timeouts. A 429's
 * Retry-After is waited out up to a minute; a longer one is cut to that, and the retry line says so.
 */
export const SOURCE_RETRY: RetryPolicy = {
  attempts: 6,
  baseDelayMs: 1_000,
  maxDelayMs: 15_000,
  budgetMs: 180_000,
  maxServerDelayMs: 60_000,
};
/** A whole request, body included. A page of 50,000 rows takes seconds; two minutes is a stall. */
export const REQUEST_TIMEOUT_MS = 120_000;
/** No byte for this long while a request is open counts as a stall. */
export const IDLE_TIMEOUT_MS = 30_000;
/** Redirects followed within the source's origin, at most; one to another origin is never followed. */
export const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** A page's rows are a few hundred bytes each; far more than that for a page is not a page, and is not parsed. */
export const BODY_BYTES_PER_ROW = 2_048;
const MIN_BODY_CAP_BYTES = 32 * 1024 * 1024;

export interface SourceOptions {
  /** The dataset's resource URL, e.g. https://data.ny.gov/resource/qzve-kjga.json */
  readonly resourceUrl: string;
  /** Socrata app token, sent as `X-App-Token`; without one, requests share a per-IP throttle pool. */
  readonly appToken?: string | undefined;
  readonly pageSize?: number;
  /** Page requests in flight at once, at most (1–8, default 4); a 429 lowers it for a while. */
  readonly pagesInFlight?: number;
  readonly retry?: RetryPolicy;
  readonly timeoutMs?: number;
  readonly idleTimeoutMs?: number;
  /** Bytes a response may have; default `pageSize × BODY_BYTES_PER_ROW`, at least 32 MB. */
  readonly maxBodyBytes?: number;
  readonly onRetry?: (event: RetryEvent) => void;
  /** Told every 15 s while a request is open, so a slow source never looks like a hang. */
  readonly onWait?: (message: string) => void;
  /** Told when a 429 lowers the requests in flight, and when they are raised again. */
  readonly onPacing?: (message: string) => void;
  /** Where the URL came from (`BNT_SOURCE_URL`, `--source-url`): named when it is wrong. */
  readonly urlField?: string;
}

export interface Page {
  /** 1-based. */
  readonly number: number;
  readonly offset: number;
  /**
   * The page's records in order, parsed a slice (about 1,000) at a time as they are asked for (`page-body.ts`):
   * work on a slice before asking for the next, so its objects die young. One pass.
   */
  readonly slices: Iterable<SourceRecord[]>;
}

/** A Socrata error body: `{code, error, message, data}`, or the older `{message, errorCode}`. */
interface SocrataErrorBody {
  readonly code?: string;
  readonly errorCode?: string;
  readonly message?: string;
}

/** A refusal that another try will not fix (bad query, unknown dataset, forbidden token). */
export class SourceRequestError extends TerminalError {
  override readonly name = 'SourceRequestError';
  readonly status: number;
  readonly code: string | undefined;

  constructor(status: number, code: string | undefined, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * Checks a source URL before anything is asked of it. Its errors never repeat the URL: it may hold a
 * credential, and it is printed, planned and written to manifests.
 */
export function checkSourceUrl(resourceUrl: string, field: string): URL {
  let url: URL;
  try {
    url = new URL(resourceUrl);
  } catch {
    throw new InputError(field, `${field} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InputError(field, `${field} must be an http(s) URL, not ${url.protocol}`);
  }
  if (carriesCredentials(url)) {
    throw new InputError(
      field,
      `${field} ${safeUrl(url)} must not carry a user name, password, query or fragment: the pipeline builds the query, and the app token goes in SOCRATA_APP_TOKEN or the socrata-source block`,
    );
  }
  return url;
}

/**
 * A dataset's resource URL under a base (a mirror, or a local stand-in): the base's origin and path, then the
 * dataset's own resource path, so one base serves every dataset (`http://127.0.0.1:8080` →
 * `http://127.0.0.1:8080/resource/qzve-kjga.json`). `field` names where the base came from, for its errors.
 */
export function resourceUrlUnder(base: string, dataset: DatasetDefinition, field: string): string {
  const url = checkSourceUrl(base, field);
  if (/\/resource\/[^/]+\.json$/.test(url.pathname)) {
    throw new InputError(
      field,
      `${field} ${safeUrl(url)} names one dataset's resource; give the base each dataset's resource path is appended to (e.g. ${url.origin})`,
    );
  }
  const resourcePath = new URL(dataset.resourceUrl).pathname;
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}${resourcePath}`;
}

/**
 * The request headers, built before anything is sent: an app token that is no valid header value is a
 * setting to fix, not a network fault to retry, and the platform's message would repeat the token.
 */
function requestHeaders(appToken: string | undefined): Headers {
  const headers = new Headers({ Accept: 'application/json' });
  if (appToken) {
    try {
      headers.set('X-App-Token', appToken);
    } catch {
      throw new InputError(
        'appToken',
        'the Socrata app token is not a valid HTTP header value (it holds a control or non-ASCII character); fix SOCRATA_APP_TOKEN or the socrata-source block',
      );
    }
  }
  return headers;
}

/** `date >= '2024-01-07T00:00:00' AND date < '2024-01-14T00:00:00'`: SoQL for the window on floating timestamps. */
export function windowWhere(dataset: DatasetDefinition, window: Window): string {
  const field = dataset.windowField;
  return `${field} >= '${checkedDate(window.start)}T00:00:00' AND ${field} < '${checkedDate(window.stop)}T00:00:00'`;
}

/** The query parameters (without paging) that fetch a window: only the dataset's fields, in a stable order. */
export function windowQuery(dataset: DatasetDefinition, window: Window): Record<string, string> {
  return {
    // The row id comes along so a page boundary can tell a repeated row (the result shifted) from a duplicate key.
    $select: [ROW_ID, ...dataset.fields.map((field) => field.name)].join(','),
    $where: windowWhere(dataset, window),
    $order: pageOrder(dataset).join(','),
  };
}

function parseRetryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function describeErrorBody(text: string): { code: string | undefined; message: string } {
  try {
    const body = JSON.parse(text) as SocrataErrorBody;
    return { code: body.code ?? body.errorCode, message: body.message ?? text.slice(0, 300) };
  } catch {
    return { code: undefined, message: text.slice(0, 300) || '(empty body)' };
  }
}

/** A client for one Socrata resource: GET requests with retries, paging and the two aggregates we need. */
export class SocrataClient {
  readonly resourceUrl: string;
  /** Page requests that may be in flight at once, at most. */
  readonly pagesInFlight: number;
  private readonly options: SourceOptions;
  private readonly pageSize: number;
  private readonly headers: Headers;
  private readonly retry: RetryPolicy;
  private readonly maxBodyBytes: number;
  private readonly inFlight: InFlightLimit;
  private readonly buffers: BodyBuffers;
  /** Queries asked of the source, retries not counted: what the request budget is measured in. */
  requests = 0;

  constructor(options: SourceOptions) {
    const url = checkSourceUrl(options.resourceUrl, options.urlField ?? 'the source URL');
    const pageSize = options.pageSize ?? MAX_PAGE_SIZE;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
      throw new InputError('pageSize', `the page size ${pageSize} must be a whole number from 1 to ${MAX_PAGE_SIZE}`);
    }
    const pagesInFlight = options.pagesInFlight ?? DEFAULT_PAGES_IN_FLIGHT;
    if (!Number.isInteger(pagesInFlight) || pagesInFlight < 1 || pagesInFlight > MAX_PAGES_IN_FLIGHT) {
      throw new InputError(
        'pagesInFlight',
        `the pages in flight ${pagesInFlight} must be a whole number from 1 to ${MAX_PAGES_IN_FLIGHT}`,
      );
    }
    this.resourceUrl = url.toString();
    this.options = options;
    this.pageSize = pageSize;
    this.pagesInFlight = pagesInFlight;
    this.headers = requestHeaders(options.appToken);
    this.retry = options.retry ?? SOURCE_RETRY;
    this.maxBodyBytes = options.maxBodyBytes ?? Math.max(MIN_BODY_CAP_BYTES, pageSize * BODY_BYTES_PER_ROW);
    // The bodies in flight and the page being read: what memory holds, whatever the window.
    this.buffers = new BodyBuffers(pagesInFlight + 1);
    this.inFlight = new InFlightLimit(pagesInFlight, (from, to, why) =>
      options.onPacing?.(
        why === 'throttled'
          ? `the source throttled (HTTP 429): ${to} request${to === 1 ? '' : 's'} in flight instead of ${from}, until answers come without one`
          : `the source answers again: ${to} requests in flight (at most ${pagesInFlight})`,
      ),
    );
  }

  /** The most requests that were in flight at once (attempts, retries included). */
  get mostInFlight(): number {
    return this.inFlight.mostInFlight;
  }

  /** The request URL for a query; it never carries the app token, which travels in a header. */
  urlFor(params: Record<string, string>): URL {
    const url = new URL(this.resourceUrl);
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    return url;
  }

  /** The parameters of one page of a query. */
  pageParams(query: Record<string, string>, offset: number): Record<string, string> {
    return { ...query, $limit: String(this.pageSize), $offset: String(offset) };
  }

  /** The parameters that count a query's rows. */
  countParams(where: string): Record<string, string> {
    return { $select: 'count(*)', $where: where };
  }

  /**
   * One query, retried on throttling, server errors, network faults, stalls and cut-off bodies, within
   * `SOURCE_RETRY`'s attempts and time budget. `signal` abandons it, retries and backoff included.
   */
  async query(params: Record<string, string>, signal?: AbortSignal): Promise<SourceRecord[]> {
    return this.fetchQuery(params, signal, -1, (body) => {
      try {
        return parseRows(body.bytes);
      } finally {
        body.release();
      }
    });
  }

  /** Number of rows matching `where`. */
  async count(where: string, signal?: AbortSignal): Promise<number> {
    const [row] = await this.query(this.countParams(where), signal);
    const value = row ? Object.values(row)[0] : undefined;
    const count = Number(value);
    if (!Number.isInteger(count)) throw new TerminalError(`the source answered count(*) with ${excerpt(row)}`);
    return count;
  }

  /** The largest value of `field` (e.g. the newest date the source has), or undefined for an empty dataset. */
  async max(field: string, signal?: AbortSignal): Promise<string | undefined> {
    const [row] = await this.query({ $select: `max(${field})` }, signal);
    const value = row ? Object.values(row)[0] : undefined;
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' && typeof value !== 'number')
      throw new TerminalError(`the source answered max(${field}) with ${excerpt(row)}`);
    return String(value);
  }

  /**
   * The offsets of the pages asked for beside the count, before it answers (`EARLY_PAGES_SHARE`): the first page,
   * and the pages after it that `expectedRows` (the dataset's estimate for the window) surely fills, while the count
   * and they fit the pages in flight. Without an estimate, the first page alone.
   */
  earlyPageOffsets(expectedRows?: number): number[] {
    const surelyFull = Math.floor(((expectedRows ?? 0) * EARLY_PAGES_SHARE) / this.pageSize);
    const pages = Math.max(1, Math.min(this.pagesInFlight - 1, surelyFull));
    return Array.from({ length: pages }, (_, index) => index * this.pageSize);
  }

  /**
   * Every record of a query whose count is `rows`, a page at a time, in order. The first page needs no count, so it
   * is requested at once, beside the count, with the pages after it that the dataset's estimate surely fills
   * (`earlyPageOffsets`); every later page's offset follows from the count, so up to
   * `pagesInFlight` requests are in flight side by side (fewer while the source throttles), and the page that proves
   * where the result ends goes out with the last of them: every page up to the first expected short (or empty) is
   * asked for, `floor(rows / page size) + 1` pages (a result that ends exactly on a page costs the empty page after
   * it). A page's body is held as the bytes that came until its turn and parsed then, a slice at a time, while the
   * next pages are in flight: memory holds at most `pagesInFlight` bodies besides the page being read, and one parsed
   * slice of it, whatever the result's length.
   *
   * Paging ends at a short page at or past the count, or at an empty page. A page shorter than asked before the count
   * cannot end it: the pages requested after it are dropped and paging goes on from the rows received, as it does
   * after a full page where a short one was expected (a result that grew). Whether the pages add up to the count is
   * the caller's to judge. Stopping the iteration, `close`, a failed count or `signal` abandons the requests in flight.
   */
  pages(
    query: Record<string, string>,
    rows: number | Promise<number>,
    signal?: AbortSignal,
    expectedRows?: number,
  ): Paging {
    const abandon = new AbortController();
    const pageSignal = signal ? AbortSignal.any([signal, abandon.signal]) : abandon.signal;
    const early = this.earlyPageOffsets(expectedRows).map((offset, index) =>
      this.requestPage(query, index + 1, offset, pageSignal),
    );
    Promise.resolve(rows).catch(() => abandon.abort(new Error('the count failed')));
    const generator = this.readPages(query, rows, early, abandon, pageSignal);
    return {
      [Symbol.asyncIterator]: () => generator,
      close: () => abandon.abort(new Error('paging was stopped')),
    };
  }

  private async *readPages(
    query: Record<string, string>,
    counted: number | Promise<number>,
    early: PageRequest[],
    abandon: AbortController,
    pageSignal: AbortSignal,
  ): AsyncGenerator<Page> {
    try {
      const rows = await counted;
      const requested: PageRequest[] = [...early];
      let number = early.length + 1;
      let nextOffset = early.length * this.pageSize;
      /**
       * The page expected short is requested (the last page asked for starts within a page of the count, or past
       * it): nothing is planned past it until a page says the result goes on.
       */
      let endRequested = rows < nextOffset;
      const requestPages = () => {
        while (!endRequested && requested.length < this.pagesInFlight) {
          requested.push(this.requestPage(query, number, nextOffset, pageSignal));
          endRequested = rows - nextOffset < this.pageSize;
          number += 1;
          nextOffset += this.pageSize;
        }
      };
      const dropRequested = () => {
        for (const request of requested.splice(0)) request.abandon.abort(new Error('the page is not needed'));
      };
      requestPages();
      for (let head = requested.shift(); head; head = requested.shift()) {
        // Keep the pages in flight full while this one is read.
        requestPages();
        const bytes = await head.body;
        const body = new PageBody(bytes.bytes);
        try {
          const slices = body.slices();
          if (!body.empty) yield { number: head.number, offset: head.offset, slices };
          for (const unread of slices) void unread; // the caller stopped short: count the rest
        } finally {
          bytes.release();
        }
        const continuesAt = head.offset + body.received;
        const ended = body.received === 0 || (body.received < this.pageSize && continuesAt >= rows);
        if (ended) {
          dropRequested();
          return;
        }
        const inPlace = requested.length > 0 ? requested[0]?.offset === continuesAt : nextOffset === continuesAt;
        if (!inPlace) {
          // The pages asked for after this one start in the wrong place: ask again from the rows received.
          dropRequested();
          number = head.number + 1;
          nextOffset = continuesAt;
        }
        // Nothing more asked for, yet the result goes on (it grew, or a page came short): plan past it again.
        if (requested.length === 0) endRequested = false;
        requestPages();
      }
    } finally {
      abandon.abort(new Error('paging was stopped'));
    }
  }

  /** A page's body, requested now and held as bytes; its failure is thrown where it is read. */
  private requestPage(query: Record<string, string>, number: number, offset: number, signal: AbortSignal): PageRequest {
    const abandon = new AbortController();
    const params = this.pageParams(query, offset);
    const body = this.fetchQuery(params, AbortSignal.any([signal, abandon.signal]), offset, (answer) => {
      // A cut-off body or an error page is retried now; the records are parsed at the page's turn.
      if (looksLikeJsonArray(answer.bytes)) return answer;
      answer.release();
      throw invalidJson(answer.bytes.length);
    });
    body.catch(() => undefined);
    return { number, offset, body, abandon };
  }

  /** One query's answer, retried; `accept` turns the body into the result or throws (transient to retry). */
  private async fetchQuery<T>(
    params: Record<string, string>,
    signal: AbortSignal | undefined,
    priority: number,
    accept: (body: Body) => T,
  ): Promise<T> {
    const url = this.urlFor(params);
    this.requests += 1;
    return withRetry(async (attempt) => accept(await this.getOnce(url, attempt, priority, signal)), this.retry, {
      what: `GET ${url.origin}${url.pathname}`,
      ...(this.options.onRetry ? { onRetry: this.options.onRetry } : {}),
      signal,
    });
  }

  /** One attempt in its turn among the requests in flight: the body of a successful answer, as bytes. */
  private async getOnce(
    url: URL,
    attempt: AttemptContext,
    priority: number,
    signal: AbortSignal | undefined,
  ): Promise<Body> {
    const queued = Date.now();
    const slot = await this.inFlight.acquire(priority, signal);
    try {
      const remainingMs = attempt.remainingMs === undefined ? undefined : attempt.remainingMs - (Date.now() - queued);
      return await this.getInTurn(url, remainingMs, slot, signal);
    } finally {
      slot.release();
    }
  }

  private async getInTurn(
    url: URL,
    remainingMs: number | undefined,
    slot: Slot,
    signal: AbortSignal | undefined,
  ): Promise<Body> {
    // The last attempt gets only what is left of the budget, so the budget holds however slow the source is.
    const timeoutMs = Math.max(1, Math.min(this.options.timeoutMs ?? REQUEST_TIMEOUT_MS, remainingMs ?? Infinity));
    const idleMs = this.options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    const limits = new AbortController();
    const total = setTimeout(
      () => limits.abort(new TransientError(`no complete answer in ${seconds(timeoutMs)} (limit: request timeout)`)),
      timeoutMs,
    );
    let idle: NodeJS.Timeout | undefined;
    const resetIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(
        () => limits.abort(new TransientError(`no data for ${seconds(idleMs)} (limit: idle timeout)`)),
        idleMs,
      );
    };
    const stopReporting = reportWhileWaiting((waited) =>
      this.options.onWait?.(
        `waiting for ${url.origin}${url.pathname}: ${seconds(waited)} so far (gives up after ${seconds(timeoutMs)}, or ${seconds(idleMs)} without data)`,
      ),
    );
    const requestSignal = signal ? AbortSignal.any([signal, limits.signal]) : limits.signal;
    let status: number;
    let retryAfter: string | null;
    let body: Body;
    try {
      resetIdle();
      const response = await this.fetchWithinOrigin(url, requestSignal);
      status = response.status;
      retryAfter = response.headers.get('retry-after');
      body = await this.readBody(response, resetIdle);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (limits.signal.aborted) throw limits.signal.reason;
      if (error instanceof TransientError || error instanceof TerminalError) throw error;
      throw new TransientError(`request failed (${describeFetchFailure(error)})`, { cause: error });
    } finally {
      clearTimeout(total);
      clearTimeout(idle);
      stopReporting();
    }
    if (status === 429) this.inFlight.throttled(slot);
    else this.inFlight.answered(slot);
    if (status >= 200 && status < 300) return body;
    const text = body.bytes.toString('utf8');
    body.release();
    if (status === 429 || status >= 500) {
      const { message } = describeErrorBody(text);
      throw new TransientError(`the source answered HTTP ${status}: ${message}`, {
        retryAfterMs: parseRetryAfter(retryAfter),
      });
    }
    const { code, message } = describeErrorBody(text);
    const codeText = code ? ` (${code})` : '';
    throw new SourceRequestError(
      status,
      code,
      `the source refused the request with HTTP ${status}${codeText}: ${message}`,
    );
  }

  /**
   * A GET that follows redirects only within the source's origin, at most `MAX_REDIRECTS`: the app token travels
   * in a header, and fetch would carry it to whatever host a redirect names. A redirect to another origin is a
   * terminal error naming the new host and the setting to change, so the token never leaves the source.
   */
  private async fetchWithinOrigin(url: URL, signal: AbortSignal): Promise<Response> {
    let current = url;
    for (let redirects = 0; ; redirects += 1) {
      const response = await fetch(current, { headers: this.headers, signal, redirect: 'manual' });
      if (!REDIRECT_STATUSES.has(response.status)) return response;
      await response.body?.cancel().catch(() => undefined);
      const location = response.headers.get('location');
      if (location === null) {
        throw new TerminalError(`the source answered HTTP ${response.status} (a redirect) without saying where to`);
      }
      const next = new URL(location, current);
      if (next.origin !== url.origin) {
        const field = this.options.urlField ?? 'the source URL';
        const resourceAt = next.pathname.indexOf('/resource/');
        const base = `${next.origin}${resourceAt > 0 ? next.pathname.slice(0, resourceAt) : ''}`;
        throw new TerminalError(
          `the source ${url.origin} redirected (HTTP ${response.status}) to ${safeUrl(next)}, another origin; it was not followed, so the app token stays with ${url.origin}. If the data now lives at ${next.host}, set ${field} to ${base}`,
        );
      }
      if (redirects >= MAX_REDIRECTS) {
        throw new TerminalError(`the source redirected more than ${MAX_REDIRECTS} times (last to ${safeUrl(next)})`);
      }
      current = next;
    }
  }

  /**
   * The body as the bytes that came, refusing more than a page can hold; every chunk that arrives resets the idle
   * timer. Read into one of the client's reusable buffers (outside the JS heap), given back with `release`.
   */
  private async readBody(response: Response, onData: () => void): Promise<Body> {
    if (!response.body) return { bytes: Buffer.alloc(0), release: () => undefined };
    const stated = Number(response.headers.get('content-length'));
    const expected = Number.isSafeInteger(stated) && stated <= this.maxBodyBytes ? stated : 0;
    const { buffer, bytes } = await readInto(
      this.buffers,
      response.body as AsyncIterable<Uint8Array>,
      expected,
      async (soFar) => {
        onData();
        if (soFar <= this.maxBodyBytes) return;
        await response.body?.cancel().catch(() => undefined);
        throw new TransientError(
          `the source sent more than ${megabytes(this.maxBodyBytes)} for one page of at most ${formatCount(this.pageSize)} rows (limit: response size); the answer was not parsed`,
        );
      },
    );
    let released = false;
    return {
      // A view, not a copy: valid until released.
      bytes: buffer.subarray(0, bytes),
      release: () => {
        if (released) return;
        released = true;
        this.buffers.give(buffer);
      },
    };
  }
}

/** The pages of a query, in order; `close` abandons the requests in flight (a loop that breaks does too). */
export interface Paging extends AsyncIterable<Page> {
  close(): void;
}

/** An answer's bytes, in a buffer the client uses again once they are `release`d. */
interface Body {
  readonly bytes: Buffer;
  release(): void;
}

/** A page asked for and not yet read: its body arrives (or has arrived) as bytes. */
interface PageRequest {
  readonly number: number;
  readonly offset: number;
  readonly body: Promise<Body>;
  /** Drops this page alone (paging went on from elsewhere). */
  readonly abandon: AbortController;
}

/** A bounded piece of an unexpected answer: enough to recognise it, never a flood. */
function excerpt(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}… (${text.length} characters)` : text;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}

function megabytes(bytes: number): string {
  return `${Math.round(bytes / (1024 * 1024))} MB`;
}

function describeFetchFailure(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'timed out';
  return describeError(error);
}
