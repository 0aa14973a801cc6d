/**
 * The Databricks timeouts nest inside the Functions host's: the host kills a worker whose invocation outlives
 * `functionTimeout` without telling it (the Node worker ignores the host's cancel message), so a statement must
 * have been stopped by the warehouse before that, or the next attempt's MERGE could overlap it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { TABLE_LOCK_WAIT_MS } from '../../src/pipeline/steps';
import { DRIVER_DEFAULTS } from '../../src/warehouse/databricks-driver';
import {
  DATABRICKS_COLD_START_RETRY,
  LOAD_STATEMENT_TIMEOUT_SECONDS,
  QUERY_STATEMENT_TIMEOUT_SECONDS,
} from '../../src/warehouse/databricks';

const MINUTE = 60_000;
/** What the arithmetic below leaves for connecting, polling and closing around the statements. */
const MARGIN_MS = 5 * MINUTE;

function functionTimeoutMs(): number {
  const host = JSON.parse(readFileSync(path.resolve(__dirname, '../../host.json'), 'utf8')) as {
    functionTimeout: string;
  };
  const [hours, minutes, seconds] = host.functionTimeout.split(':').map(Number);
  return (((hours ?? 0) * 60 + (minutes ?? 0)) * 60 + (seconds ?? 0)) * 1000;
}

/** A call's worst case: attempts start for at most the budget, and the last one may run its statement to the end. */
const callMs = (statementSeconds: number) =>
  (DATABRICKS_COLD_START_RETRY.budgetMs ?? Infinity) + statementSeconds * 1000;

test('a load activity (table lock, CREATE, MERGE) ends before the host kills the worker, with a margin', () => {
  const worst =
    TABLE_LOCK_WAIT_MS + callMs(QUERY_STATEMENT_TIMEOUT_SECONDS) + callMs(LOAD_STATEMENT_TIMEOUT_SECONDS);
  assert.equal(worst, 47 * MINUTE, 'the figure the README and databricks.ts give');
  assert.ok(worst + MARGIN_MS <= functionTimeoutMs(), `${worst / MINUTE} min + margin > functionTimeout`);
});

test('a verify or find-missing activity (table lock, one query) ends well before the host limit', () => {
  const worst = TABLE_LOCK_WAIT_MS + callMs(QUERY_STATEMENT_TIMEOUT_SECONDS);
  assert.ok(worst + MARGIN_MS <= functionTimeoutMs());
});

test('the cold-start budget is deterministic, at most 5 minutes per attempt, and outlasts a typical pro/classic start', () => {
  const budget = DATABRICKS_COLD_START_RETRY.budgetMs;
  assert.ok(budget !== undefined, 'a budget bounds the wait whatever the jitter draws');
  assert.ok(budget <= 5 * MINUTE);
  // Azure Databricks documents a pro or classic warehouse start as typically about 4 minutes.
  assert.ok(budget >= 4 * MINUTE);
  assert.ok(DATABRICKS_COLD_START_RETRY.maxDelayMs < budget);
});

test('a silent socket fails long before the margin is used up, and the driver’s own retries stay short', () => {
  assert.ok((DRIVER_DEFAULTS.socketTimeout ?? Infinity) <= 2 * MINUTE);
  assert.ok((DRIVER_DEFAULTS.retriesTimeout ?? Infinity) <= 2 * MINUTE);
});
