import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { InputError, describeError } from '../../common/errors';

export function json(status: number, body: unknown, headers?: Record<string, string>): HttpResponseInit {
  return { status, jsonBody: body, ...(headers ? { headers } : {}) };
}

/** 400 naming what was wrong: `{ "error": { "field": "startDate", "message": "…" } }`. */
export function badRequest(error: InputError): HttpResponseInit {
  return json(400, { error: { field: error.field, message: error.message } });
}

/** The request body as JSON; an InputError on `body` when it is empty or not JSON. */
export async function readJson(request: HttpRequest): Promise<unknown> {
  const text = await request.text();
  if (text.trim() === '') throw new InputError('body', 'the body is empty: send a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InputError('body', 'the body is not valid JSON');
  }
}

/**
 * Our own status endpoint for an instance, on the caller's host. It carries no key: the caller uses the same
 * function key it called us with, and never receives the Durable extension's system key.
 */
export function statusUrl(request: HttpRequest, instanceId: string): string {
  return new URL(`/api/runs/${encodeURIComponent(instanceId)}`, request.url).toString();
}

/**
 * The answer when a handler throws: 500 with a pointer to the log. The cause stays in the log, since durable
 * client errors can carry the extension's internal URLs.
 */
export function serverError(context: InvocationContext, what: string): (error: unknown) => HttpResponseInit {
  return (error) => {
    context.error(`${what} failed: ${describeError(error)}`);
    return json(500, { error: { message: `${what} failed; the function log has the cause` } });
  };
}
