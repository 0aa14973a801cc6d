import type { DatasetDefinition } from './datasets';
import { pageOrder } from './datasets';
import type { SourceRecord } from './records';
import { DEFAULT_RETRY, type RetryEvent, type RetryPolicy, TransientError, withRetry } from '../common/retry';
import { type Window, checkedDate } from './window';

/** Socrata's system field: a stable, unique id per row. */
export const ROW_ID = ':id';

/** Some Socrata deployments refuse larger pages with HTTP 400; 50,000 is safe everywhere. */
export const MAX_PAGE_SIZE = 50_000;

export interface SourceOptions {
  /** The dataset's resource URL, e.g. https://data.ny.gov/resource/qzve-kjga.json */
  readonly resourceUrl: string;
  /** Socrata app token, sent as `X-App-Token`; without one, requests share a per-IP throttle pool. */
  readonly appToken?: string | undefined;
  readonly pageSize?: number;
  readonly retry?: RetryPolicy;
  /** Per request, body included. */
  readonly timeoutMs?: number;
  readonly onRetry?: (event: RetryEvent) => void;
}

export interface Page {
  /** 1-based. */
  readonly number: number;
  readonly offset: number;
  readonly records: SourceRecord[];
}

/** A Socrata error body: `{code, error, message, data}`, or the older `{message, errorCode}`. */
interface SocrataErrorBody {
  readonly code?: string;
  readonly errorCode?: string;
  readonly message?: string;
}

/** A refusal that another try will not fix (bad query, unknown dataset, forbidden token). */
export class SourceRequestError extends Error {
  override readonly name = 'SourceRequestError';
  readonly status: number;
  readonly code: string | undefined;

  constructor(status: number, code: string | undefined, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
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
  private readonly options: SourceOptions;
  private readonly pageSize: number;

  constructor(options: SourceOptions) {
    // The URL is printed, planned and written to manifests, so its errors never repeat it: it may hold a credential.
    let url: URL;
    try {
      url = new URL(options.resourceUrl);
    } catch {
      throw new Error('the source URL is not a URL');
    }
    if (
      url.username ||
      url.password ||
      [...url.searchParams.keys()].some((name) => name.toLowerCase().includes('app_token'))
    ) {
      throw new Error(
        'the source URL must not carry credentials: give the app token with --app-token, SOCRATA_APP_TOKEN or the socrata-source block',
      );
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new Error(`the source URL must be http(s), not ${url.protocol}`);
    if (url.search || url.hash) {
      throw new Error(
        `the source URL ${url.origin}${url.pathname} must not have a query or fragment; the pipeline builds the query`,
      );
    }
    const pageSize = options.pageSize ?? MAX_PAGE_SIZE;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
      throw new Error(`the page size ${pageSize} must be a whole number from 1 to ${MAX_PAGE_SIZE}`);
    }
    this.resourceUrl = url.toString();
    this.options = options;
    this.pageSize = pageSize;
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
   * One query, retried on throttling, server errors, network faults, timeouts and cut-off bodies.
   * `signal` abandons it, retries and backoff included.
   */
  async query(params: Record<string, string>, signal?: AbortSignal): Promise<SourceRecord[]> {
    const url = this.urlFor(params);
    return withRetry(() => this.getOnce(url, signal), this.options.retry ?? DEFAULT_RETRY, {
      what: `GET ${url.origin}${url.pathname}`,
      ...(this.options.onRetry ? { onRetry: this.options.onRetry } : {}),
      ...(signal ? { signal } : {}),
    });
  }

  /** Number of rows matching `where`. */
  async count(where: string, signal?: AbortSignal): Promise<number> {
    const [row] = await this.query(this.countParams(where), signal);
    const value = row ? Object.values(row)[0] : undefined;
    const count = Number(value);
    if (!Number.isInteger(count)) throw new Error(`the source answered count(*) with ${JSON.stringify(row)}`);
    return count;
  }

  /** The largest value of `field` (e.g. the newest date the source has), or undefined for an empty dataset. */
  async max(field: string): Promise<string | undefined> {
    const [row] = await this.query({ $select: `max(${field})` });
    const value = row ? Object.values(row)[0] : undefined;
    return value === undefined || value === null ? undefined : String(value);
  }

  /**
   * Every record of a query, a page at a time (`$offset` moves on by the rows received). The next page is requested
   * while the caller works on the current one; at most two pages are held, so memory does not grow with the result.
   * Paging ends at an empty page, not a short one: a server that sends fewer rows than asked cannot end it early.
   * Stopping the iteration (or `signal`) abandons the request in flight.
   */
  async *pages(query: Record<string, string>, signal?: AbortSignal): AsyncGenerator<Page> {
    const abandon = new AbortController();
    const pageSignal = signal ? AbortSignal.any([signal, abandon.signal]) : abandon.signal;
    const fetchPage = (number: number, offset: number): Promise<Page> => {
      const page = this.query(this.pageParams(query, offset), pageSignal).then((records) => ({
        number,
        offset,
        records,
      }));
      // The prefetch may fail while the caller is busy; its error is thrown where it is awaited.
      page.catch(() => undefined);
      return page;
    };
    try {
      let next: Promise<Page> | undefined = fetchPage(1, 0);
      while (next) {
        const page: Page = await next;
        next = page.records.length > 0 ? fetchPage(page.number + 1, page.offset + page.records.length) : undefined;
        if (page.records.length > 0) yield page;
      }
    } finally {
      abandon.abort(new Error('paging was stopped'));
    }
  }

  private async getOnce(url: URL, signal: AbortSignal | undefined): Promise<SourceRecord[]> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.options.appToken) headers['X-App-Token'] = this.options.appToken;
    const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 120_000);
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, { headers, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      text = await response.text();
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw new TransientError(`request failed (${describeFetchFailure(error)})`, { cause: error });
    }
    if (response.status === 429 || response.status >= 500) {
      const { message } = describeErrorBody(text);
      throw new TransientError(`the source answered HTTP ${response.status}: ${message}`, {
        retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
      });
    }
    if (!response.ok) {
      const { code, message } = describeErrorBody(text);
      const codeText = code ? ` (${code})` : '';
      throw new SourceRequestError(
        response.status,
        code,
        `the source refused the request with HTTP ${response.status}${codeText}: ${message}`,
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw new TransientError(`the source sent a truncated or invalid JSON body (${text.length} bytes)`, {
        cause: error,
      });
    }
    if (!Array.isArray(body)) throw new Error(`the source sent ${typeof body} where a JSON array of rows was expected`);
    return body as SourceRecord[];
  }
}

function describeFetchFailure(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'timed out';
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
