import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DATASETS } from '../../src/pipeline/datasets';
import { type RunFinished, runFinishedLine } from '../../src/pipeline/summary';
import { type Window, addDays } from '../../src/pipeline/window';
import { parseSchedule, previousOccurrence, windowForFire } from '../../src/schedule/occurrence';
import {
  evaluateString,
  moduleParams,
  nestedObject,
  objectEntries,
  outputs,
  params,
  read,
  resolveValue,
  resources,
  variables,
} from './bicep-text';
import { bindKql } from './kql';
import { type Evaluation, type Notification, type RuleSettings, type Trace, durationMs, playRule } from './log-alert';

const main = read('infra/main.bicep');
const alerts = read('infra/modules/alerts.bicep');
const roles = read('infra/modules/roles.bicep');
const rules = resources(alerts).filter((r) => r.type === 'Microsoft.Insights/scheduledQueryRules');

describe('log alert rules stand on their own identity', () => {
  it('are the three rules, on an API version with managed identities (2021-08-01 and later)', () => {
    assert.deepEqual(
      rules.map((rule) => rule.symbol),
      ['windowFailed', 'weeklyRunMissing', 'staleSource'],
    );
    for (const rule of rules) assert.ok(rule.apiVersion >= '2021-08-01', `${rule.symbol}@${rule.apiVersion}`);
  });

  it('each have a system-assigned identity, so a query never runs as the last user who edited the rule', () => {
    for (const rule of rules) {
      assert.deepEqual(Object.fromEntries(objectEntries(nestedObject(rule.body, 'identity'))), {
        type: "'SystemAssigned'",
      });
    }
  });

  it('query only the Application Insights component, on which each identity gets Reader', () => {
    for (const rule of rules) {
      const scopes = objectEntries(nestedObject(rule.body, 'properties')).get('scopes');
      assert.equal(scopes?.replace(/\s+/g, ' '), '[ appInsightsId ]', rule.symbol);
    }
    // Every rule's identity is handed to roles.bicep, and nothing else is.
    const principalIds = outputs(alerts).get('rulePrincipalIds');
    assert.equal(principalIds?.type, 'array');
    const listed = /^output rulePrincipalIds array = \[([\s\S]*?)\]$/m.exec(alerts)?.[1];
    assert.deepEqual(
      listed
        ?.split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== ''),
      rules.map((rule) => `${rule.symbol}.identity.principalId`),
    );
    const bound = moduleParams(main, 'roles');
    assert.equal(bound.get('alertRulePrincipalIds'), 'alerts.outputs.rulePrincipalIds');
    // The component the rules query is the one the Reader role is on.
    assert.equal(moduleParams(main, 'alerts').get('appInsightsId'), 'monitoring.outputs.appInsightsId');
    assert.equal(bound.get('appInsightsName'), 'monitoring.outputs.appInsightsName');
    assert.equal(params(roles).get('alertRulePrincipalIds')?.type, 'array');
    const readers = resources(roles).find((r) => r.symbol === 'alertRuleReaders');
    assert.deepEqual(readers?.loop, { item: 'principalId', source: 'alertRulePrincipalIds' });
    const entries = objectEntries(readers.body);
    assert.equal(entries.get('scope'), 'appInsights');
    assert.equal(
      objectEntries(nestedObject(readers.body, 'properties')).get('principalType'),
      "'ServicePrincipal'",
      'a managed identity',
    );
    const component = resources(roles).find((r) => r.symbol === 'appInsights');
    assert.equal(component?.type, 'Microsoft.Insights/components');
    assert.equal(objectEntries(component.body).get('name'), 'appInsightsName');
  });

  it('lets resource permissions read the component’s logs in its workspace', () => {
    const workspace = resources(read('infra/modules/monitoring.bicep')).find(
      (r) => r.type === 'Microsoft.OperationalInsights/workspaces',
    )!;
    const features = objectEntries(nestedObject(nestedObject(workspace.body, 'properties'), 'features'));
    assert.equal(features.get('enableLogAccessUsingOnlyResourcePermissions'), 'true');
  });
});

/** The missed-run rule as alerts.bicep configures it: its settings, and its query with the prelude filled in. */
function missedRunRule(): RuleSettings {
  const rule = rules.find((r) => r.symbol === 'weeklyRunMissing')!;
  const properties = objectEntries(nestedObject(rule.body, 'properties'));
  const criteria = nestedObject(rule.body, 'criteria');
  const condition = (name: string) => new RegExp(`^\\s*${name}: (.+)$`, 'm').exec(criteria)?.[1];
  assert.equal(condition('timeAggregation'), "'Count'");
  assert.equal(condition('operator'), "'GreaterThan'");
  assert.equal(condition('query'), "'${missedRunPrelude}${loadTextContent('../queries/missed-weekly-run.kql')}'");
  assert.match(nestedObject(criteria, 'failingPeriods'), /numberOfEvaluationPeriods: 1\s+minFailingPeriodsToAlert: 1/);
  const dimensions = /dimensions: \[([\s\S]*?)\n {10}\]/.exec(criteria)?.[1] ?? '';
  const prelude = evaluateString(variables(alerts).get('missedRunPrelude')!, {
    'string(datasets)': JSON.stringify(DATASET_NAMES),
    scheduleDayOfWeek: resolveValue('scheduleDayOfWeek'),
    scheduleHourUtc: resolveValue('scheduleHourUtc'),
  });
  const unquote = (text: string | undefined) => (text ?? '').replace(/^'|'$/g, '');
  return {
    query: `${prelude}${read('infra/queries/missed-weekly-run.kql')}`,
    frequencyMs: durationMs(unquote(properties.get('evaluationFrequency'))),
    queryRangeMs: durationMs(unquote(properties.get('overrideQueryTimeRange') ?? properties.get('windowSize'))),
    stateful: properties.get('autoMitigate') === 'true',
    dimensions: [...dimensions.matchAll(/name: '(\w+)'/g)].map((m) => m[1]!),
    threshold: Number(condition('threshold')),
  };
}

const DATASET_NAMES = DATASETS.map((dataset) => dataset.name);
const [TRAFFIC, CROSSINGS] = ['bnt-hourly-traffic', 'bnt-hourly-crossings'];
const HOUR = 3_600_000;
const MINUTE = 60_000;
const at = (base: Date, ms: number) => new Date(base.getTime() + ms);

/** The summary line a run writes when it finishes, as the code writes it. */
function finished(dataset: string, window: Window, status: RunFinished['status'], when: Date): Trace {
  const line = runFinishedLine({
    dataset,
    start: window.start,
    stop: window.stop,
    instanceId: `${dataset}_${window.start}_${window.stop}`,
    status,
    fetched: status === 'completed' ? 3360 : 0,
    staged: status === 'completed' ? 3360 : 0,
    quarantined: 0,
    rowsInWindow: status === 'completed' ? 3360 : 0,
    newestInSource: status === 'stale' ? '2025-04-12T23:00:00.000' : null,
    durationMs: 180_000,
    ...(status === 'failed' ? { error: { kind: 'transient', message: 'Socrata answered 503 after 6 attempts' } } : {}),
  });
  return { timestamp: when, message: line };
}

/**
 * Six weeks of runs for both datasets. The weekly runs take their window from the schedule occurrence their
 * timer fire belongs to, as the app does (windowForFire), however late the fire.
 */
function sixWeeks(schedule: string) {
  const parsed = parseSchedule(schedule);
  const firstDue = previousOccurrence(parsed, new Date('2025-06-02T12:00:00Z'));
  const dues = [0, 1, 2, 3, 4, 5].map((week) => at(firstDue, week * 7 * 24 * HOUR));
  const weekly = (due: Date, firedAfterMs: number) => windowForFire(parsed, at(due, firedAfterMs)).window;
  const [w1, w2, w3, w4, w5, w6] = dues as [Date, Date, Date, Date, Date, Date];
  const traces: Trace[] = [
    // Week 1: the live dataset completes, the frozen one comes back stale.
    finished(CROSSINGS, weekly(w1, 0), 'completed', at(w1, 8 * MINUTE)),
    finished(TRAFFIC, weekly(w1, 0), 'stale', at(w1, 5 * MINUTE)),
    // Week 2: the timer never fires.
    // Week 3: every attempt of one dataset fails; the other's timer fires five hours late and completes.
    finished(CROSSINGS, weekly(w3, 0), 'failed', at(w3, 10 * MINUTE)),
    finished(CROSSINGS, weekly(w3, 0), 'failed', at(w3, 25 * MINUTE)),
    finished(CROSSINGS, weekly(w3, 0), 'failed', at(w3, 55 * MINUTE)),
    finished(TRAFFIC, weekly(w3, 5 * HOUR), 'stale', at(w3, 5 * HOUR + 6 * MINUTE)),
    // Week 4: one dataset's week is loaded only after the deadline (a backfill the next day); the other has no
    // weekly run, only a backfill of another year finishing the same afternoon.
    finished(CROSSINGS, weekly(w4, 0), 'completed', at(w4, 28 * HOUR)),
    finished(TRAFFIC, { start: '2010-01-01', stop: '2011-01-01' }, 'completed', at(w4, 2 * HOUR)),
    // Week 5: a backfill unit that covers the week, and a run that finishes just within the deadline.
    finished(
      CROSSINGS,
      { start: weekly(w5, 0).start, stop: addDays(weekly(w5, 0).stop, 1) },
      'completed',
      at(w5, 3 * HOUR),
    ),
    finished(TRAFFIC, weekly(w5, 0), 'stale', at(w5, 22 * HOUR + 50 * MINUTE)),
    // Week 6: both on time.
    finished(CROSSINGS, weekly(w6, 0), 'completed', at(w6, 9 * MINUTE)),
    finished(TRAFFIC, weekly(w6, 0), 'stale', at(w6, 4 * MINUTE)),
  ];
  const dueAt = (due: Date) => due.toISOString().slice(0, 16).replace('T', ' ');
  const missed = [
    [CROSSINGS, w2],
    [TRAFFIC, w2],
    [CROSSINGS, w3],
    [CROSSINGS, w4],
    [TRAFFIC, w4],
  ].map(([dataset, due]) => JSON.stringify({ dataset, dueAt: dueAt(due as Date) }));
  return { dues, traces, missed, from: at(firstDue, -24 * HOUR), until: at(dues[5]!, 72 * HOUR) };
}

/** A deterministic sequence in [0, 1), so the jittered timeline is the same on every run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

/** Evaluation timelines: each scheduled slot of the rule, and when (and how often) it ran. */
function timelines(frequencyMs: number, from: Date, until: Date, outageAround: Date) {
  const slots: Date[] = [];
  for (let t = from.getTime(); t < until.getTime(); t += frequencyMs) slots.push(new Date(t));
  const random = seeded(20250602);
  const outageStart = at(outageAround, -2 * HOUR);
  const outageEnd = at(outageAround, 4 * HOUR);
  return {
    'on time': slots.map((scheduled) => ({ scheduled, ran: at(scheduled, MINUTE) })),
    '50 minutes late': slots.map((scheduled) => ({ scheduled, ran: at(scheduled, 50 * MINUTE) })),
    '5 hours late': slots.map((scheduled) => ({ scheduled, ran: at(scheduled, 5 * HOUR) })),
    'late by 0-110 minutes, each run 1-3 times': slots.flatMap((scheduled) =>
      Array.from({ length: 1 + Math.floor(random() * 3) }, () => ({
        scheduled,
        ran: at(scheduled, Math.floor(random() * 110) * MINUTE),
      })),
    ),
    'a 6-hour outage over a deadline, then every missed evaluation at once': slots.map((scheduled) => ({
      scheduled,
      ran: scheduled >= outageStart && scheduled < outageEnd ? outageEnd : at(scheduled, MINUTE),
    })),
  } satisfies Record<string, Evaluation[]>;
}

function alertCounts(sent: readonly Notification[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const notification of sent) {
    const key = JSON.stringify(notification.alert);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

describe('the missed-weekly-run alert, played over timelines', () => {
  const rule = missedRunRule();
  const schedule = resolveValue(moduleParams(main, 'functionApp').get('schedule')!);
  const weeks = sixWeeks(schedule);
  const played = timelines(rule.frequencyMs, weeks.from, weeks.until, at(weeks.dues[1]!, 24 * HOUR));
  // App Insights makes a trace queryable minutes after it is written.
  const ingestionDelayMs = 3 * MINUTE;

  it('is read from alerts.bicep: hourly, over two days of logs, stateful per dataset and due time', () => {
    assert.equal(rule.frequencyMs, HOUR);
    assert.equal(rule.queryRangeMs, 48 * HOUR);
    assert.equal(rule.stateful, true);
    assert.deepEqual(rule.dimensions, ['dataset', 'dueAt']);
    assert.equal(rule.threshold, 0);
  });

  it('binds, prelude included, against the traces table', () => {
    assert.deepEqual(bindKql(rule.query), []);
  });

  for (const [name, evaluations] of Object.entries(played)) {
    for (const asOf of ['ran', 'scheduled'] as const) {
      it(`alerts exactly once for each missed week and never otherwise: evaluations ${name}, as of when they ${asOf === 'ran' ? 'ran' : 'were scheduled'}`, () => {
        const counts = alertCounts(playRule(rule, weeks.traces, evaluations, { asOf, ingestionDelayMs }));
        assert.deepEqual(
          Object.fromEntries([...counts].sort()),
          Object.fromEntries(weeks.missed.map((key) => [key, 1]).sort()),
        );
      });
    }
  }

  it('fires each missed week in the first evaluation of the day after its deadline', () => {
    const sent = playRule(rule, weeks.traces, played['on time'], { asOf: 'ran', ingestionDelayMs });
    for (const notification of sent) {
      const due = new Date(`${notification.alert.dueAt!.replace(' ', 'T')}:00Z`);
      assert.equal(notification.at.getTime() - due.getTime(), 24 * HOUR + MINUTE, JSON.stringify(notification));
    }
  });

  it('the rule it replaces (one hour a week to be seen in, stateless) skipped or doubled weeks on the same timelines', () => {
    const previous: RuleSettings = {
      ...rule,
      query: PREVIOUS_QUERY(rule.query),
      stateful: false,
      dimensions: ['dataset'],
    };
    // Week 2, when neither dataset ran: the alerts sent between its due time and the next.
    const inWeek2 = (sent: Notification[]) =>
      sent.filter((n) => n.at >= weeks.dues[1]! && n.at < weeks.dues[2]!).map((n) => JSON.stringify(n.alert));
    const counts = (evaluations: Evaluation[]) => {
      const sent = inWeek2(playRule(previous, weeks.traces, evaluations, { asOf: 'ran', ingestionDelayMs }));
      return [CROSSINGS, TRAFFIC].map((dataset) => sent.filter((key) => key === JSON.stringify({ dataset })).length);
    };
    assert.deepEqual(counts(played['on time']), [1, 1], 'on time it worked');
    const jittered = counts(played['late by 0-110 minutes, each run 1-3 times']);
    assert.ok(
      jittered.some((count) => count !== 1),
      `week 2 alerted ${jittered.join(' and ')} times`,
    );
  });
});

/** The query before this rule: one hour a day after the due time, any finished run since the due time counting. */
function PREVIOUS_QUERY(current: string): string {
  const prelude = current.slice(0, current.indexOf('// Alert (b)'));
  return `${prelude}let dueThisWeek = startofweek(now()) + scheduleDayOfWeek + scheduleHourUtc;
let lastDue = iff(dueThisWeek <= now(), dueThisWeek, dueThisWeek - 7d);
let checkFrom = lastDue + 1d;
let finishedSinceDue =
traces
| where message startswith "bnt.run.finished "
| extend run = parse_json(substring(message, strlen("bnt.run.finished ")))
| extend dataset = tostring(run.dataset), status = tostring(run.status)
| where timestamp >= lastDue and status in ("completed", "stale")
| distinct dataset;
print dataset = expectedDatasets
| mv-expand dataset to typeof(string)
| where now() >= checkFrom and now() < checkFrom + 1h
| join kind=leftanti finishedSinceDue on dataset
| project dataset`;
}
