import './support/core-standin';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvocationContext, type LogLevel } from '@azure/functions';
import { reportRun } from '../../src/functions/activities';
import type { RunFinished } from '../../src/pipeline/summary';

function capture(): { context: InvocationContext; lines: [LogLevel, string][] } {
  const lines: [LogLevel, string][] = [];
  const context = new InvocationContext({
    functionName: 'reportRun',
    logHandler: (level, ...args) => lines.push([level, args.map(String).join(' ')]),
  });
  return { context, lines };
}

const run: RunFinished = {
  dataset: 'bnt-hourly-traffic',
  start: '2026-11-15',
  stop: '2026-11-22',
  instanceId: 'bnt-hourly-traffic_2026-11-15_2026-11-22',
  status: 'completed',
  fetched: 3_360,
  staged: 3_360,
  quarantined: 0,
  rowsInWindow: 3_360,
  newestInSource: null,
  durationMs: 180_000,
  maxQuarantinePercent: 1,
  missingFields: [],
};

describe('the reportRun activity', () => {
  it('writes exactly one bnt.run.finished line per run, fields in the documented order', () => {
    const { context, lines } = capture();
    reportRun({ runs: [run] }, context);
    assert.deepEqual(lines, [
      [
        'information',
        'bnt.run.finished {"dataset":"bnt-hourly-traffic","start":"2026-11-15","stop":"2026-11-22","instanceId":"bnt-hourly-traffic_2026-11-15_2026-11-22","status":"completed","fetched":3360,"staged":3360,"quarantined":0,"rowsInWindow":3360,"newestInSource":null,"durationMs":180000,"maxQuarantinePercent":1,"missingFields":[]}',
      ],
    ]);
  });

  it('logs a stale run as a warning and a failed one as an error, one line each', () => {
    const { context, lines } = capture();
    reportRun(
      {
        runs: [
          { ...run, status: 'stale', staged: 0, newestInSource: '2025-04-12' },
          { ...run, status: 'failed', error: { kind: 'terminal', message: 'MERGE failed' } },
        ],
      },
      context,
    );
    assert.deepEqual(
      lines.map(([level, line]) => [level, JSON.parse(line.replace('bnt.run.finished ', '')).status]),
      [
        ['warning', 'stale'],
        ['error', 'failed'],
      ],
    );
    assert.match(
      lines[1]?.[1] ?? '',
      /"error":\{"kind":"terminal","message":"MERGE failed"\},"maxQuarantinePercent":1,/,
    );
  });
});
