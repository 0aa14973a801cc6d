/**
 * Retries bounded end to end: each step's worst case, every inner retry inside each of Durable's attempts,
 * derived from the constants the code runs with. "Worst case" is the time a step spends waiting on a fault
 * that persists before it fails for good: the lock waits, the source's retry budget, the warehouse's cold-start
 * budget (once per statement batch the step sends), and Durable's delays between attempts (the last attempt
 * is followed by DurableTask's zero-delay back-compat timer).
 */
import './support/core-standin';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LOAD_WINDOWS, PLAN_MISSING, REPORT_RUN, STAGE_WINDOW, VERIFY_WINDOW } from '../../src/functions/activities';
import { STEP_RETRY, type StepRetry } from '../../src/functions/shared/orchestration';
import { SOURCE_RETRY } from '../../src/pipeline/source';
import { TABLE_LOCK_WAIT_MS, WINDOW_LOCK_WAIT_MS, tableLockWaitMs, windowLockWaitMs } from '../../src/pipeline/steps';
import { DEFAULT_LEASE_SECONDS } from '../../src/stage/blob';
import { DEFAULT_LOCK_STALE_MS } from '../../src/stage/local';
import { DATABRICKS_COLD_START_RETRY } from '../../src/warehouse/databricks';

const MINUTE = 60_000;
const LIMIT_MS = 15 * MINUTE;
/** The cold-start budget per statement batch the plan allows (issue 14 sets the constant's own, at most this). */
const ASSUMED_WAREHOUSE_BUDGET_MS = 5 * MINUTE;

/** The lock waits the stages really use: a run waits out a crashed holder's lock, whichever stage holds it. */
const STAGE_LOCK_EXPIRIES = [{ lockExpiryMs: DEFAULT_LEASE_SECONDS * 1000 }, { lockExpiryMs: DEFAULT_LOCK_STALE_MS }];
const WINDOW_LOCK_WAIT = Math.max(...STAGE_LOCK_EXPIRIES.map(windowLockWaitMs));
const TABLE_LOCK_WAIT = Math.max(...STAGE_LOCK_EXPIRIES.map(tableLockWaitMs));

function budget(policy: { budgetMs?: number }, fallback?: number): number {
  const value = policy.budgetMs ?? fallback;
  assert.ok(value !== undefined, 'a retry policy inside a step needs a time budget');
  return value;
}

/** Durable's delays between attempts, as DurableTask's RetryInterceptor computes them. */
function durableDelays(retry: StepRetry): number {
  let total = 0;
  for (let retryCount = 0; retryCount < retry.attempts - 1; retryCount++) {
    total += Math.min(retry.firstRetryMs * retry.backoffCoefficient ** retryCount, retry.maxRetryMs);
  }
  return total;
}

test('every step’s worst case, inner retries and Durable’s together, is 15 minutes or less', (t) => {
  const source = budget(SOURCE_RETRY);
  const warehouseBudget = DATABRICKS_COLD_START_RETRY.budgetMs;
  const warehouse = warehouseBudget ?? ASSUMED_WAREHOUSE_BUDGET_MS;
  assert.ok(warehouse <= ASSUMED_WAREHOUSE_BUDGET_MS, 'the warehouse budget is at most 5 minutes per statement batch');
  if (warehouseBudget === undefined) {
    t.diagnostic('DATABRICKS_COLD_START_RETRY has no budgetMs yet: computed with 5 minutes per statement batch');
  }

  // One attempt's waits, step by step: what each step's code waits on before it gives up.
  const perAttempt: Record<keyof typeof STEP_RETRY, number> = {
    // the window lock, then the source (the first request whose fault persists ends the attempt)
    [STAGE_WINDOW]: WINDOW_LOCK_WAIT + source,
    // the table lock, then two statement batches (create the table, the MERGE)
    [LOAD_WINDOWS]: TABLE_LOCK_WAIT + 2 * warehouse,
    // the table lock, the count, and for a window that staged nothing the source's newest date
    [VERIFY_WINDOW]: TABLE_LOCK_WAIT + warehouse + source,
    // the table lock, the aggregate query
    [PLAN_MISSING]: TABLE_LOCK_WAIT + warehouse,
    // a log line: nothing to wait on
    [REPORT_RUN]: 0,
  };

  const minutes = (ms: number) => `${(ms / MINUTE).toFixed(1)} min`;
  for (const [step, inner] of Object.entries(perAttempt) as [keyof typeof STEP_RETRY, number][]) {
    const retry = STEP_RETRY[step];
    const total = retry.attempts * inner + durableDelays(retry);
    t.diagnostic(
      `${step}: ${retry.attempts} × ${minutes(inner)} + ${minutes(durableDelays(retry))} between attempts = ${minutes(total)}`,
    );
    assert.ok(total <= LIMIT_MS, `${step}: ${minutes(total)}`);
    assert.ok(retry.attempts >= 1);
  }
});

test('the inner retries are bounded in time, not only in attempts', () => {
  assert.ok(SOURCE_RETRY.budgetMs !== undefined && SOURCE_RETRY.budgetMs <= 3 * MINUTE);
  assert.ok(WINDOW_LOCK_WAIT_MS <= WINDOW_LOCK_WAIT && WINDOW_LOCK_WAIT <= MINUTE);
  assert.ok(TABLE_LOCK_WAIT_MS <= TABLE_LOCK_WAIT && TABLE_LOCK_WAIT <= 2 * MINUTE);
});
