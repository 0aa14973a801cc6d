import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RUN_FINISHED, type RunFinished, runFinishedLine } from '../../src/pipeline/summary';
import { evaluateString, infraFiles, read, variables } from './bicep-text';
import { KqlDateTime, bindKql, evaluateKql } from './kql';

/**
 * The alerts and the workbook find runs by parsing the `bnt.run.finished {json}` line the code logs. There is
 * no Kusto engine here, so every query parses it in one fixed form, and this test holds that form to the code:
 * the prefix and the substring offset are applied in JavaScript to lines made by `runFinishedLine`, and every
 * field a query reads must be in those lines with the type its conversion expects. Renaming the event or a
 * field, or changing a field's type, fails here instead of silently emptying an alert.
 */

const queries = infraFiles('.kql').map((path) => ({ path, text: read(path) }));

/** Sample lines as the code writes them: a completed run, a failed one, a stale one, one with no newestInSource. */
const base: RunFinished = {
  dataset: 'bnt-hourly-traffic',
  start: '2024-05-26',
  stop: '2024-06-02',
  instanceId: 'window-bnt-hourly-traffic-2024-05-26-2024-06-02',
  status: 'completed',
  fetched: 3360,
  staged: 3358,
  quarantined: 2,
  rowsInWindow: 3358,
  newestInSource: null,
  durationMs: 41234,
  maxQuarantinePercent: 1,
  missingFields: [],
};
const samples: Record<string, RunFinished> = {
  completed: base,
  failed: {
    ...base,
    status: 'failed',
    fetched: 0,
    staged: 0,
    quarantined: 0,
    rowsInWindow: 0,
    error: { kind: 'transient', message: 'Socrata answered 503 after 6 attempts' },
  },
  stale: {
    ...base,
    dataset: 'bnt-hourly-traffic',
    start: '2025-06-01',
    stop: '2025-06-08',
    status: 'stale',
    fetched: 0,
    staged: 0,
    quarantined: 0,
    rowsInWindow: 0,
    newestInSource: '2025-04-12T23:00:00.000',
  },
  completedEmpty: { ...base, dataset: 'bnt-hourly-crossings', fetched: 0, staged: 0, quarantined: 0, rowsInWindow: 0 },
};
const lines = Object.fromEntries(Object.entries(samples).map(([name, event]) => [name, runFinishedLine(event)]));

/** The three lines every query starts its parse with, exactly. */
function parseLines(text: string) {
  const trimmed = text.split('\n').map((line) => line.trim());
  const where = trimmed.filter((line) => line.startsWith('| where message '));
  const extendRun = trimmed.filter((line) => line.startsWith('| extend run = '));
  return { trimmed, where, extendRun };
}

/** The prefix a query tests for and the one it skips with substring(): both read from the query text. */
function queryPrefixes(text: string) {
  const { where, extendRun } = parseLines(text);
  assert.equal(where.length, 1, 'one `| where message startswith "..."` line');
  assert.equal(extendRun.length, 1, 'one `| extend run = parse_json(substring(...))` line');
  const startsWith = /^\| where message startswith "([^"]*)"$/.exec(where[0]!)?.[1];
  const skipped = /^\| extend run = parse_json\(substring\(message, strlen\("([^"]*)"\)\)\)$/.exec(extendRun[0]!)?.[1];
  assert.ok(startsWith !== undefined, `fixed where form, got: ${where[0]}`);
  assert.ok(skipped !== undefined, `fixed substring form, got: ${extendRun[0]}`);
  return { startsWith, skipped };
}

type Conversion = 'tostring' | 'tolong' | 'toint' | 'toreal' | 'todatetime';

/** Every `name = conv(run.path)` the queries read, e.g. `errorMessage = tostring(run.error.message)`. */
function fieldReads(text: string): { column: string; conversion: Conversion; path: string[] }[] {
  const reads = [];
  for (const match of text
    .replace(/^\s*\/\/.*$/gm, '')
    .matchAll(/(\w+) = (tostring|tolong|toint|toreal|todatetime)\(run\.([\w.]+)\)/g)) {
    reads.push({ column: match[1]!, conversion: match[2] as Conversion, path: match[3]!.split('.') });
  }
  return reads;
}

/** What JavaScript's own parse of a line gives, the same way the query does it. */
function parseLikeKql(line: string, startsWith: string, skipped: string): Record<string, unknown> | undefined {
  if (!line.startsWith(startsWith)) return undefined;
  return JSON.parse(line.substring(skipped.length)) as Record<string, unknown>;
}

function valueAt(object: Record<string, unknown>, path: string[]): unknown {
  let value: unknown = object;
  for (const key of path)
    value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  return value;
}

describe('KQL over the bnt.run.finished line', () => {
  it('has the alert and workbook queries', () => {
    assert.deepEqual(
      queries.map((q) => q.path),
      [
        'infra/queries/failed-window.kql',
        'infra/queries/missed-weekly-run.kql',
        'infra/queries/stale-source.kql',
        'infra/queries/workbook-recent-runs.kql',
        'infra/queries/workbook-rows-per-week.kql',
      ],
    );
  });

  for (const { path, text } of queries) {
    describe(path, () => {
      it('selects the summary lines by the event name the code writes, and skips exactly that prefix', () => {
        const { startsWith, skipped } = queryPrefixes(text);
        assert.equal(startsWith, `${RUN_FINISHED} `);
        assert.equal(skipped, startsWith);
        const { trimmed } = parseLines(text);
        const from = trimmed.indexOf(`| where message startswith "${startsWith}"`);
        assert.equal(trimmed[from - 1], 'traces', 'the parse reads the traces table');
        assert.equal(trimmed[from + 1]?.startsWith('| extend run = '), true, 'the parse follows the filter directly');
        // `message` is read only in those two lines.
        const messageLines = trimmed.filter((line) => /(?<![\w.])message\b/.test(line) && !line.startsWith('//'));
        assert.equal(
          messageLines.length,
          2,
          `message is used only to find and parse the line: ${messageLines.join(' / ')}`,
        );
      });

      it('parses every kind of run line the code writes', () => {
        const { startsWith, skipped } = queryPrefixes(text);
        for (const [name, line] of Object.entries(lines)) {
          const parsed = parseLikeKql(line, startsWith, skipped);
          assert.ok(parsed, `${name}: the line starts with the prefix`);
          assert.deepEqual(parsed, JSON.parse(JSON.stringify(samples[name])), `${name}: the same object back`);
        }
        assert.equal(parseLikeKql('bnt.run.started {"dataset":"x"}', startsWith, skipped), undefined);
        assert.equal(
          parseLikeKql(`x ${lines.completed}`, startsWith, skipped),
          undefined,
          'only at the start of the message',
        );
      });

      it('reads only fields the line has, with the types its conversions expect', () => {
        const reads = fieldReads(text);
        assert.ok(reads.length > 0, 'reads fields as `column = conversion(run.field)`');
        // Every `run.` in the query is one of these reads: nothing reads the object another way.
        const code = text.replace(/^\s*\/\/.*$/gm, '');
        const uses = [...code.matchAll(/(?<![\w.])run\.[\w.]+/g)].length;
        assert.equal(uses, reads.length, 'every run.<field> is read through a conversion');
        const { startsWith, skipped } = queryPrefixes(text);
        for (const { column, conversion, path: fieldPath } of reads) {
          const where = `${column} = ${conversion}(run.${fieldPath.join('.')})`;
          const top = fieldPath[0]!;
          // The failed line carries every field, the optional error too.
          assert.ok(
            Object.hasOwn(parseLikeKql(lines.failed!, startsWith, skipped)!, top),
            `${where}: "${top}" is a field of the line`,
          );
          let seen = 0;
          for (const [name, line] of Object.entries(lines)) {
            const value = valueAt(parseLikeKql(line, startsWith, skipped)!, fieldPath);
            if (value === undefined) {
              // Only the error object is absent, and only on runs that did not fail.
              assert.equal(top, 'error', `${where}: missing in the ${name} line`);
              assert.notEqual(name, 'failed');
              continue;
            }
            seen++;
            if (conversion === 'tostring') {
              assert.ok(
                typeof value === 'string' || (value === null && top === 'newestInSource'),
                `${where}: ${name} gives ${JSON.stringify(value)}`,
              );
            } else if (conversion === 'todatetime') {
              assert.ok(typeof value === 'string' && !Number.isNaN(Date.parse(value)), `${where}: ${name}`);
            } else {
              assert.equal(typeof value, 'number', `${where}: ${name} gives ${JSON.stringify(value)}`);
              if (conversion !== 'toreal') assert.ok(Number.isInteger(value), `${where}: ${name} is an integer`);
            }
          }
          assert.ok(seen > 0, `${where}: present in some line`);
        }
      });

      it('compares status only with the statuses the code writes', () => {
        const statuses = new Set(Object.values(samples).map((event) => event.status));
        const compared = [
          ...[...text.matchAll(/status [!=]= "(\w+)"/g)].map((m) => m[1]!),
          ...[...text.matchAll(/status in \(([^)]*)\)/g)].flatMap((m) =>
            [...m[1]!.matchAll(/"(\w+)"/g)].map((s) => s[1]!),
          ),
        ];
        for (const status of compared)
          assert.ok(statuses.has(status as RunFinished['status']), `"${status}" is a status the code writes`);
      });
    });
  }

  it('binds every query against Application Insights’ traces table, as the service does when it creates a rule', () => {
    const prelude = evaluateString(variables(read('infra/modules/alerts.bicep')).get('missedRunPrelude')!, {
      'string(datasets)': '["bnt-hourly-traffic","bnt-hourly-crossings"]',
      scheduleDayOfWeek: 1,
      scheduleHourUtc: 12,
    });
    for (const { path, text } of queries) {
      const query = path.endsWith('missed-weekly-run.kql') ? `${prelude}${text}` : text;
      assert.deepEqual(bindKql(query), [], path);
    }
    // The binder is not lenient: a misspelt column or function is an error.
    assert.equal(bindKql('traces | where messag startswith "x"').length, 1);
    assert.equal(bindKql('traces | extend d = tostrin(message)').length, 1);
  });

  it('alerts on the runs the issue names', () => {
    const failed = read('infra/queries/failed-window.kql');
    assert.match(failed, /\| where status == "failed"$/m);
    const stale = read('infra/queries/stale-source.kql');
    assert.match(stale, /\| where status == "stale" or \(status == "completed" and rowsInWindow == 0\)$/m);
    const missed = read('infra/queries/missed-weekly-run.kql');
    assert.match(missed, /status in \("completed", "stale"\)/);
  });

  it('gets from alerts.bicep every name the missed-run query uses but does not define', () => {
    const missed = read('infra/queries/missed-weekly-run.kql');
    const alerts = read('infra/modules/alerts.bicep');
    const prelude = /var missedRunPrelude = '(.*)'$/m.exec(alerts)?.[1];
    assert.ok(prelude, 'alerts.bicep defines the prelude');
    const given = [...prelude.matchAll(/let (\w+) = /g)].map((m) => m[1]!).sort();
    assert.deepEqual(given, ['expectedDatasets', 'scheduleDayOfWeek', 'scheduleHourUtc']);
    for (const name of given) {
      assert.match(missed, new RegExp(`\\b${name}\\b`), `the query uses ${name}`);
      assert.doesNotMatch(
        missed.replace(/^\/\/.*$/gm, ''),
        new RegExp(`let ${name} =`),
        `the query leaves ${name} to the prelude`,
      );
    }
    assert.match(
      alerts,
      /query: '\$\{missedRunPrelude\}\$\{loadTextContent\('\.\.\/queries\/missed-weekly-run\.kql'\)\}'/,
    );
  });
});

describe('the test evaluator of KQL follows Kusto where the alert queries depend on it', () => {
  const one = (expression: string, now = '2025-06-04T15:30:00Z') =>
    evaluateKql(`print v = ${expression}`, {}, new Date(now)).rows[0]!.v;
  const iso = (value: unknown) => new Date((value as KqlDateTime).ms).toISOString();

  it('starts weeks on Sunday and days at midnight UTC', () => {
    assert.equal(iso(one('startofweek(now())')), '2025-06-01T00:00:00.000Z');
    assert.equal(iso(one('startofweek(now())', '2025-06-01T00:00:00Z')), '2025-06-01T00:00:00.000Z');
    assert.equal(iso(one('startofweek(now())', '2025-05-31T23:59:59Z')), '2025-05-25T00:00:00.000Z');
    assert.equal(iso(one('startofday(now()) - 8d + 12h')), '2025-05-27T12:00:00.000Z');
  });

  it('matches startswith without case, in with case, and never holds a comparison with null', () => {
    assert.equal(one('"BNT.Run.Finished x" startswith "bnt.run.finished "'), true);
    assert.equal(one('"Completed" in ("completed", "stale")'), false);
    assert.equal(one('todatetime("not a date") < now()'), null);
    assert.equal(one('tostring(parse_json("{}").absent)'), '');
  });

  it('reads the summary line’s dates and formats the due time as the dimension shows it', () => {
    assert.equal(
      iso(one('todatetime(parse_json("{\\"start\\":\\"2024-05-26\\"}").start)')),
      '2024-05-26T00:00:00.000Z',
    );
    assert.equal(one('format_datetime(startofweek(now()) + 1d + 12h, "yyyy-MM-dd HH:mm")'), '2025-06-02 12:00');
  });

  it('refuses what it does not implement, by name, and what does not parse', () => {
    assert.throws(() => one('tostring(parse_json("{}").missing)'), /does not parse/);
    assert.throws(() => one('bin(now(), 1h)'), /does not implement the function bin\(\)/);
    assert.throws(() => evaluateKql('print v = 1 | summarize count()', {}, new Date()), /SummarizeOperator/);
  });
});
