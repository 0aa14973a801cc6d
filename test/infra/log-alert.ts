/**
 * A model of how Azure Monitor evaluates a log search alert rule (Microsoft.Insights/scheduledQueryRules,
 * kind LogAlert), to play a rule's query over sample timelines. What it models, from the rule's settings and
 * the Azure Monitor documentation:
 *
 *  - an evaluation is scheduled every `evaluationFrequency`; each one may run late, or more than once;
 *  - it runs the query as of some time — when it runs, or the time it was scheduled for (a replay): `now()`
 *    is that time and the query reads the traces of the query time range before it (`overrideQueryTimeRange`,
 *    else `windowSize`) that had arrived when it ran;
 *  - with Count, the rows are counted per combination of the dimensions and compared with the threshold;
 *  - a stateless rule (autoMitigate false) fires for every combination that meets the condition at every
 *    evaluation; a stateful one (autoMitigate true) fires a combination once, and resolves it when the
 *    condition has not been met for two frequency periods (the rule for frequencies of 15 minutes to 11
 *    hours); only a resolved combination can fire again.
 */
import { type KqlRow, KqlDateTime, evaluateKql } from './kql';

export interface RuleSettings {
  readonly query: string;
  readonly frequencyMs: number;
  readonly queryRangeMs: number;
  readonly stateful: boolean;
  readonly dimensions: readonly string[];
  /** Fires when a combination's row count is greater than this. */
  readonly threshold: number;
}

export interface Trace {
  readonly timestamp: Date;
  readonly message: string;
}

export interface Evaluation {
  readonly scheduled: Date;
  /** When it ran: at or after `scheduled`. */
  readonly ran: Date;
}

export type AsOf = 'ran' | 'scheduled';

export interface Notification {
  /** The dimension values, e.g. `{ dataset, dueAt }`. */
  readonly alert: Readonly<Record<string, string>>;
  readonly at: Date;
}

/** ISO 8601 durations as the rule settings write them (PT1H, P2D, PT30M). */
export function durationMs(text: string): number {
  const match = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/.exec(text);
  if (!match || text === 'P' || text === 'PT') throw new Error(`not a duration this model reads: ${text}`);
  const [, days = '0', hours = '0', minutes = '0'] = match;
  return ((Number(days) * 24 + Number(hours)) * 60 + Number(minutes)) * 60_000;
}

/** The notifications a rule sends over `evaluations`, taken in the order they ran. */
export function playRule(
  rule: RuleSettings,
  traces: readonly Trace[],
  evaluations: readonly Evaluation[],
  options: { readonly asOf: AsOf; readonly ingestionDelayMs: number },
): Notification[] {
  const sent: Notification[] = [];
  /** Fired combinations, with the last time the condition was met for each. */
  const fired = new Map<string, number>();
  const ordered = [...evaluations].sort((a, b) => a.ran.getTime() - b.ran.getTime());
  for (const evaluation of ordered) {
    const ran = evaluation.ran.getTime();
    const asOf = options.asOf === 'ran' ? ran : evaluation.scheduled.getTime();
    const visible = traces.filter((trace) => {
      const at = trace.timestamp.getTime();
      return at <= asOf && at > asOf - rule.queryRangeMs && at + options.ingestionDelayMs <= ran;
    });
    const rows = evaluateKql(
      rule.query,
      {
        traces: {
          columns: ['timestamp', 'message'],
          rows: visible.map((trace) => ({
            timestamp: new KqlDateTime(trace.timestamp.getTime()),
            message: trace.message,
          })),
        },
      },
      new Date(asOf),
    ).rows;
    const counts = new Map<string, number>();
    for (const row of rows) {
      const key = JSON.stringify(dimensionValues(rule, row));
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const met = [...counts].filter(([, count]) => count > rule.threshold).map(([key]) => key);
    for (const key of met) {
      if (!rule.stateful || !fired.has(key)) sent.push({ alert: JSON.parse(key), at: evaluation.ran });
      if (rule.stateful) fired.set(key, ran);
    }
    for (const [key, lastMet] of fired) {
      if (!met.includes(key) && ran - lastMet >= 2 * rule.frequencyMs) fired.delete(key);
    }
  }
  return sent;
}

function dimensionValues(rule: RuleSettings, row: KqlRow): Record<string, string> {
  return Object.fromEntries(
    rule.dimensions.map((name) => {
      const value = row[name];
      if (typeof value !== 'string' && typeof value !== 'number') {
        const type = value === null || value === undefined ? String(value) : value.constructor.name;
        throw new Error(`dimension ${name} must be a string or a number column, got ${type}`);
      }
      return [name, String(value)];
    }),
  );
}
