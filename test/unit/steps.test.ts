import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TerminalError } from '../../src/common/errors';
import { BNT_HOURLY_TRAFFIC } from '../../src/pipeline/datasets';
import { type Manifest, windowLayout } from '../../src/pipeline/layout';
import type { StageStore, Warehouse } from '../../src/pipeline/ports';
import type { SocrataClient } from '../../src/pipeline/source';
import { type StepPorts, findMissingStep, verifyWindowStep } from '../../src/pipeline/steps';
import { maxQuarantinePercent } from '../../src/pipeline/verdict';
import type { Window } from '../../src/pipeline/window';

interface Staged {
  fetched?: number;
  staged?: number;
  reasons?: Record<string, number>;
  missingFields?: string[];
}

/** The manifest staging would leave for `window` with these counts. */
function manifest(window: Window, counts: Staged): Manifest {
  const staged = counts.staged ?? 0;
  const quarantined = Object.values(counts.reasons ?? {}).reduce((sum, n) => sum + n, 0);
  const layout = windowLayout(BNT_HOURLY_TRAFFIC.name, window);
  return {
    dataset: BNT_HOURLY_TRAFFIC.name,
    window,
    source: 'https://example.invalid/resource/qzve-kjga.json',
    fetched: counts.fetched ?? staged + quarantined,
    staged,
    quarantined,
    quarantineReasons: counts.reasons ?? {},
    parts: staged > 0 ? [layout.part(0)] : [],
    quarantineFile: quarantined > 0 ? layout.quarantine : null,
    stagedAt: new Date(0).toISOString(),
    missingFields: counts.missingFields ?? [],
  };
}

/**
 * Ports whose stage holds the window's manifests and whose warehouse answers counts and days from a list: verify
 * reads only manifests and takes only the table's lock; nothing else may be touched.
 */
function ports(
  table: { rows?: number; days?: string[]; newest?: string },
  manifests: readonly Manifest[] = [],
  limit?: number,
): StepPorts {
  const untouchable = () => {
    throw new Error('this step must not touch this');
  };
  const warehouse = {
    tableName: () => 'bronze.bnt_traffic_hourly',
    rowsInWindow: async () => table.rows ?? 0,
    rowsPerDay: async () => (table.days ?? []).map((day) => ({ day, rows: 1 })),
    close: async () => undefined,
  } as unknown as Warehouse;
  const source = { max: async () => table.newest } as unknown as SocrataClient;
  const files = new Map(manifests.map((m) => [windowLayout(m.dataset, m.window).manifest, JSON.stringify(m)] as const));
  const allowed = {
    acquireLock: async () => ({ lost: new AbortController().signal, release: async () => undefined }),
    readText: async (path: string) => files.get(path),
    description: 'memory',
    lockExpiryMs: 0,
  };
  const stage = new Proxy(allowed, {
    get: (target, property) => (property in target ? target[property as keyof typeof target] : untouchable()),
  }) as unknown as StageStore;
  return { source, stage, warehouse, progress: () => undefined, maxQuarantinePercent: limit };
}

const week = { start: '2024-01-07', stop: '2024-01-14' };
const verify = (p: StepPorts, window: Window = week) => verifyWindowStep(p, { dataset: 'bnt-hourly-traffic', window });

test('verify fails a run whose table holds fewer rows than its manifests staged, naming both numbers', async () => {
  await assert.rejects(
    verify(ports({ rows: 3_000 }, [manifest(week, { staged: 3_360 })])),
    (error: Error) =>
      error instanceof TerminalError &&
      /the table holds 3,000 rows for the window but 3,360 were staged/.test(error.message),
  );
});

test('verify passes when the table holds at least what was staged, and asks the source nothing', async () => {
  const result = await verify(ports({ rows: 3_400, newest: 'unused' }, [manifest(week, { staged: 3_360 })]));
  assert.deepEqual(result, { rowsInWindow: 3_400, newestInSource: null, status: 'completed' });
});

test('a window that was never completely staged fails verification', async () => {
  await assert.rejects(verify(ports({ rows: 3_400 })), /is not completely staged/);
});

test('verify sums every chunk of a long window, and fails over the quarantine limit naming reasons and files', async () => {
  const month = { start: '2024-01-01', stop: '2024-02-26' };
  const chunks = [
    { start: '2024-01-01', stop: '2024-01-29' },
    { start: '2024-01-29', stop: '2024-02-26' },
  ];
  const manifests = [
    manifest(chunks[0] as Window, { staged: 9_800, reasons: { not_allowed: 60, missing_field: 40 } }),
    manifest(chunks[1] as Window, { staged: 10_000, reasons: { not_allowed: 101 } }),
  ];
  // 201 of 20,001 is just over the 1 % default.
  await assert.rejects(
    verify(ports({ rows: 19_800 }, manifests), month),
    (error: Error) =>
      error instanceof TerminalError &&
      error.message.includes(
        'bnt-hourly-traffic [2024-01-01, 2024-02-26): 201 of 20,001 records (1.00%) were quarantined, over the 1% limit (top reasons: not_allowed 161, missing_field 40; see stage/bnt-hourly-traffic/2024-01-01_2024-01-29/_quarantine.jsonl, stage/bnt-hourly-traffic/2024-01-29_2024-02-26/_quarantine.jsonl); the 19,800 that passed were staged and loaded',
      ),
  );
  const relaxed = await verify(ports({ rows: 19_800 }, manifests, 2), month);
  assert.equal(relaxed.status, 'completed');
});

test('the limit is the operator’s (flag or setting) first, then the dataset’s own, then 1 %', () => {
  const own = { ...BNT_HOURLY_TRAFFIC, maxQuarantinePercent: 5 };
  assert.equal(maxQuarantinePercent({}, BNT_HOURLY_TRAFFIC), 1);
  assert.equal(maxQuarantinePercent({}, own), 5);
  assert.equal(maxQuarantinePercent({ maxQuarantinePercent: 0 }, own), 0);
});

test('a renamed key column fails the window, naming the field no record carries', async () => {
  const renamed = manifest(week, { reasons: { missing_field: 3_361 }, missingFields: ['plaza_id'] });
  await assert.rejects(
    verify(ports({ rows: 0, newest: '2024-05-01T00:00:00.000' }, [renamed])),
    /3,361 of 3,361 records \(100%\) were quarantined, over the 1% limit \(top reasons: missing_field 3,361; no record carries plaza_id;/,
  );
});

test('an empty window whose source stopped before it is stale; one with newer data is not', async () => {
  const future = { start: '2026-11-15', stop: '2026-11-22' };
  const frozen = await verify(ports({ newest: '2025-04-12T00:00:00.000' }, [manifest(future, {})]), future);
  assert.deepEqual(frozen, { rowsInWindow: 0, newestInSource: '2025-04-12T00:00:00.000', status: 'stale' });
  const gap = await verify(ports({ newest: '2024-02-01T00:00:00.000' }, [manifest(week, {})]));
  assert.equal(gap.status, 'completed');
});

test('missing weeks are the 7-day weeks from the start with no rows, merged into windows', async () => {
  const result = await findMissingStep(ports({ days: ['2024-01-02', '2024-01-20', '2024-01-21'] }), {
    dataset: 'bnt-hourly-traffic',
    window: { start: '2024-01-01', stop: '2024-02-10' },
  });
  assert.deepEqual(result.missing, [
    { start: '2024-01-08', stop: '2024-01-15' },
    { start: '2024-01-22', stop: '2024-02-10' },
  ]);
});
