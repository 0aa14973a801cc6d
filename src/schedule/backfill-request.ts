import { z } from 'zod';
import { InputError } from '../common/errors';
import { DATASETS, findDataset } from '../pipeline/datasets';
import { type Window, parseIsoDate } from '../pipeline/window';
import { BACKFILL_MODES, type BackfillMode } from './instances';

/** The longest range one backfill may cover. */
export const MAX_BACKFILL_YEARS = 25;
export const DEFAULT_MAX_CONCURRENCY = 4;
export const MAX_CONCURRENCY = 16;
/**
 * The most requests one backfill has in flight to the source: its units staging at once (`maxConcurrency`, at most
 * 16) times the pages each keeps in flight (at most 4 in the Functions app, `APP_MAX_PAGES_IN_FLIGHT` in
 * src/run/app.ts). With the defaults, 4 × 4 = 16. A 429 halves a unit's pages in flight.
 */
export const MAX_SOURCE_REQUESTS_IN_FLIGHT = 64;

export interface BackfillRequest {
  readonly dataset: string;
  readonly window: Window;
  readonly mode: BackfillMode;
  readonly dryRun: boolean;
  readonly maxConcurrency: number;
}

const FIELDS = ['dataset', 'startDate', 'stopDate', 'mode', 'dryRun', 'maxConcurrency'] as const;

const knownDatasets = DATASETS.map((dataset) => dataset.name).join(', ');

const REQUEST = z.strictObject({
  dataset: z.string({ error: `dataset must name a dataset: one of ${knownDatasets}` }),
  startDate: z.string({ error: 'startDate must be a date in the form YYYY-MM-DD' }),
  stopDate: z.string({ error: 'stopDate must be a date in the form YYYY-MM-DD (the range is [startDate, stopDate))' }),
  mode: z.enum(BACKFILL_MODES, { error: `mode must be one of ${BACKFILL_MODES.join(', ')}` }).default('all'),
  dryRun: z.boolean({ error: 'dryRun must be true or false' }).default(false),
  maxConcurrency: z
    .number({ error: `maxConcurrency must be a whole number from 1 to ${MAX_CONCURRENCY}` })
    .int({ error: `maxConcurrency must be a whole number from 1 to ${MAX_CONCURRENCY}` })
    .min(1, { error: `maxConcurrency must be a whole number from 1 to ${MAX_CONCURRENCY}` })
    .max(MAX_CONCURRENCY, { error: `maxConcurrency must be a whole number from 1 to ${MAX_CONCURRENCY}` })
    .default(DEFAULT_MAX_CONCURRENCY),
});

/**
 * Checks a backfill request body (already parsed JSON) completely before anything starts: the shape with no
 * unknown fields, a known dataset, real and ordered dates, a range of at most 25 years. Throws an InputError
 * naming the first offending field.
 */
export function parseBackfillRequest(body: unknown): BackfillRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InputError('body', `the body must be a JSON object with the fields ${FIELDS.join(', ')}`);
  }
  const parsed = REQUEST.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (issue?.code === 'unrecognized_keys') {
      const key = issue.keys[0] ?? 'body';
      throw new InputError(key, `unknown field "${key}" (the fields are ${FIELDS.join(', ')})`);
    }
    throw new InputError(String(issue?.path[0] ?? 'body'), issue?.message ?? 'the body is not a backfill request');
  }
  const { dataset, startDate, stopDate, mode, dryRun, maxConcurrency } = parsed.data;
  findDataset(dataset, 'dataset');
  const start = parseIsoDate(startDate, 'startDate');
  const stop = parseIsoDate(stopDate, 'stopDate');
  if (stop <= start) {
    throw new InputError(
      'stopDate',
      `stopDate "${stop}" must be after startDate "${start}" (the range is [startDate, stopDate))`,
    );
  }
  if (stop > addYears(start, MAX_BACKFILL_YEARS)) {
    throw new InputError(
      'stopDate',
      `the range ${start} to ${stop} is longer than ${MAX_BACKFILL_YEARS} years; split it into several backfills`,
    );
  }
  return { dataset, window: { start, stop }, mode, dryRun, maxConcurrency };
}

function addYears(isoDate: string, years: number): string {
  const date = new Date(`${isoDate}T00:00:00Z`);
  date.setUTCFullYear(date.getUTCFullYear() + years);
  return date.toISOString().slice(0, 10);
}
