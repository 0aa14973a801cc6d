/**
 * KQL for the infrastructure tests, on Kusto's own parser and binder (@kusto/language-service-next, the
 * library behind the portal's query editor):
 *
 *  - `bindKql` binds a query against Application Insights' `traces` table and returns the binder's errors, as
 *    the service reports them when an alert rule is created;
 *  - `evaluateKql` runs a query over rows given in memory. There is no Kusto engine here, so it evaluates the
 *    syntax tree the parser builds, for the operators and functions the alert queries use, with Kusto's
 *    semantics (startofweek is Sunday, `startswith` ignores case, `in` does not, comparisons with null are
 *    not true). Anything else is refused by name, so a query cannot outgrow it silently.
 */
import '@kusto/language-service-next/bridge.js';
import '@kusto/language-service-next';

// The library is Bridge.NET output: it defines these two globals, untyped here on purpose (the tests are the types).
declare const Kusto: any;
declare const Bridge: any;

const Language = Kusto.Language;
const SyntaxKind = Language.Syntax.SyntaxKind as Record<string, number>;
const kindNames = new Map<number, string>();
for (const [name, value] of Object.entries(SyntaxKind)) if (typeof value === 'number') kindNames.set(value, name);

/**
 * The `traces` table as Application Insights exposes it to a log alert scoped to the component (the
 * classic schema that `appi-…` queries use; the workspace's AppTraces has other column names).
 */
export const TRACES_SCHEMA =
  '(timestamp:datetime, message:string, severityLevel:int, itemType:string, customDimensions:dynamic, ' +
  'customMeasurements:dynamic, operation_Name:string, operation_Id:string, operation_ParentId:string, ' +
  'operation_SyntheticSource:string, session_Id:string, user_Id:string, user_AuthenticatedId:string, ' +
  'user_AccountId:string, application_Version:string, client_Type:string, client_Model:string, ' +
  'client_OS:string, client_IP:string, client_City:string, client_StateOrProvince:string, ' +
  'client_CountryOrRegion:string, client_Browser:string, cloud_RoleName:string, cloud_RoleInstance:string, ' +
  'appId:string, appName:string, iKey:string, sdkVersion:string, itemId:string, itemCount:int)';

const globals = Language.GlobalState.Default.WithDatabase(
  new Language.Symbols.DatabaseSymbol.$ctor1(
    'appi',
    [new Language.Symbols.TableSymbol.$ctor7('traces', TRACES_SCHEMA, null)],
    false,
  ),
);

/** The binder's errors for `query`, as `line:column message`; empty when it binds. */
export function bindKql(query: string): string[] {
  return errorsOf(Language.KustoCode.ParseAndAnalyze(query, globals), query);
}

function errorsOf(code: any, query: string): string[] {
  const diagnostics = code.GetDiagnostics();
  const errors: string[] = [];
  for (let i = 0; i < diagnostics.Count; i++) {
    const diagnostic = diagnostics.getItem(i);
    if (String(diagnostic.Severity) !== 'Error') continue;
    const before = query.slice(0, diagnostic.Start as number).split('\n');
    errors.push(`${before.length}:${before.at(-1)!.length + 1} ${diagnostic.Message as string}`);
  }
  return errors;
}

export class KqlDateTime {
  constructor(readonly ms: number) {}
}
export class KqlTimespan {
  constructor(readonly ms: number) {}
}
/** A `dynamic` value: JSON as JavaScript, `undefined` for a missing property. */
export class KqlDynamic {
  constructor(readonly value: unknown) {}
}
export type KqlValue = null | boolean | number | string | KqlDateTime | KqlTimespan | KqlDynamic;
export type KqlRow = Readonly<Record<string, KqlValue>>;
export interface KqlTable {
  readonly columns: readonly string[];
  readonly rows: readonly KqlRow[];
}

interface Scope {
  readonly names: ReadonlyMap<string, KqlValue | KqlTable>;
  readonly tables: Readonly<Record<string, KqlTable>>;
  readonly now: KqlDateTime;
}

const DAY = 86_400_000;

function refuse(what: string, node: any): never {
  throw new Error(`the test evaluator does not implement ${what}: ${String(node.toString()).trim().slice(0, 80)}`);
}

function typeName(node: any): string {
  return String(Bridge.getTypeName(node)).replace('Kusto.Language.Syntax.', '');
}

function kindName(node: any): string {
  return kindNames.get(node.Kind as number) ?? String(node.Kind);
}

/** The items of a syntax list. */
function nodes(list: any): any[] {
  const found: any[] = [];
  for (let i = 0; i < list.Count; i++) found.push(list.getItem(i));
  return found;
}

/** The items of a comma-separated syntax list. */
function elements(list: any): any[] {
  return nodes(list).map((separated) => separated.Element);
}

function isTable(value: KqlValue | KqlTable | undefined): value is KqlTable {
  return typeof value === 'object' && value !== null && 'rows' in value;
}

const parsed = new Map<string, any>();

/** Runs `query` with `tables` as the database and `now` as now(); returns the result of its last statement. */
export function evaluateKql(query: string, tables: Readonly<Record<string, KqlTable>>, now: Date): KqlTable {
  let code = parsed.get(query);
  if (!code) {
    code = Language.KustoCode.Parse(query);
    const syntax = errorsOf(code, query);
    if (syntax.length > 0) throw new Error(`the query does not parse: ${syntax.join('; ')}`);
    parsed.set(query, code);
  }
  const names = new Map<string, KqlValue | KqlTable>();
  let result: KqlTable | undefined;
  for (const statement of elements(code.Syntax.Statements)) {
    const scope: Scope = { names, tables, now: new KqlDateTime(now.getTime()) };
    if (typeName(statement) === 'LetStatement') {
      const expression = statement.Expression;
      names.set(
        String(statement.Name.SimpleName),
        tabular(expression) ? table(expression, scope) : scalar(expression, {}, scope),
      );
    } else if (typeName(statement) === 'ExpressionStatement') {
      result = table(statement.Expression, scope);
    } else refuse(typeName(statement), statement);
  }
  if (!result) throw new Error('the query has no tabular result');
  return result;
}

function tabular(node: any): boolean {
  const type = typeName(node);
  if (type === 'PipeExpression' || type === 'PrintOperator') return true;
  if (type === 'ParenthesizedExpression') return tabular(node.Expression);
  return false;
}

function table(node: any, scope: Scope): KqlTable {
  switch (typeName(node)) {
    case 'NameReference': {
      const name = String(node.SimpleName);
      const value = scope.names.get(name) ?? scope.tables[name];
      if (!isTable(value)) throw new Error(`${name} is not a table`);
      return value;
    }
    case 'ParenthesizedExpression':
      return table(node.Expression, scope);
    case 'PrintOperator':
      return project({ columns: [], rows: [{}] }, elements(node.Expressions), scope, false);
    case 'PipeExpression':
      return operate(node.Operator, table(node.Expression, scope), scope);
    default:
      return refuse(`the tabular expression ${typeName(node)}`, node);
  }
}

/** The column a projection item makes: `name = expression`, or a column reference kept as it is. */
function column(item: any): { name: string; expression: any } {
  if (typeName(item) === 'SimpleNamedExpression')
    return { name: String(item.Name.SimpleName), expression: item.Expression };
  if (typeName(item) === 'NameReference') return { name: String(item.SimpleName), expression: item };
  return refuse('an unnamed column', item);
}

function project(input: KqlTable, items: any[], scope: Scope, keep: boolean): KqlTable {
  const made = items.map(column);
  const columns = keep
    ? [...input.columns.filter((c) => !made.some((m) => m.name === c)), ...made.map((m) => m.name)]
    : made.map((m) => m.name);
  const rows = input.rows.map((row) => {
    // A column made earlier in the same operator is visible to the later ones, as in Kusto.
    const seen: Record<string, KqlValue> = { ...row };
    const out: Record<string, KqlValue> = keep ? seen : {};
    for (const { name, expression } of made) out[name] = seen[name] = scalar(expression, seen, scope);
    return out;
  });
  return { columns, rows };
}

function operate(operator: any, input: KqlTable, scope: Scope): KqlTable {
  switch (typeName(operator)) {
    case 'FilterOperator':
      return {
        columns: input.columns,
        rows: input.rows.filter((row) => scalar(operator.Condition, row, scope) === true),
      };
    case 'ExtendOperator':
      return project(input, elements(operator.Expressions), scope, true);
    case 'ProjectOperator':
      return project(input, elements(operator.Expressions), scope, false);
    case 'DistinctOperator': {
      const columns = elements(operator.Expressions).map((item) => column(item).name);
      const seen = new Map<string, KqlRow>();
      for (const row of input.rows) {
        const picked = Object.fromEntries(columns.map((c) => [c, row[c] ?? null]));
        seen.set(JSON.stringify(columns.map((c) => display(picked[c]!))), picked);
      }
      return { columns, rows: [...seen.values()] };
    }
    case 'MvExpandOperator': {
      const [expansion, ...more] = elements(operator.Expressions);
      if (more.length > 0 || typeName(expansion.Expression) !== 'NameReference') refuse('this mv-expand', operator);
      const name = String(expansion.Expression.SimpleName);
      const to = expansion.ToTypeOf
        ? String(expansion.ToTypeOf.TypeOf.toString()).replace(/typeof\(|\)|\s/g, '')
        : 'dynamic';
      if (to !== 'string' && to !== 'dynamic') refuse(`mv-expand to ${to}`, operator);
      const rows: KqlRow[] = [];
      for (const row of input.rows) {
        const value = row[name];
        const items: KqlValue[] =
          value instanceof KqlDynamic && Array.isArray(value.value)
            ? value.value.map((item: unknown) => new KqlDynamic(item))
            : [value ?? null];
        for (const item of items) rows.push({ ...row, [name]: to === 'string' ? tostring(item) : item });
      }
      return { columns: input.columns, rows };
    }
    case 'JoinOperator': {
      const kind = nodes(operator.Parameters).find((p) => String(p.Name.SimpleName) === 'kind');
      if (!kind || String(kind.Expression.toString()).trim() !== 'leftanti')
        refuse('a join other than kind=leftanti', operator);
      const keys = elements(operator.ConditionClause.Expressions).map((item) => {
        if (typeName(item) !== 'NameReference') refuse('a join condition other than column names', item);
        return String(item.SimpleName);
      });
      const right = table(operator.Expression, scope);
      const present = new Set(right.rows.map((row) => JSON.stringify(keys.map((k) => display(row[k] ?? null)))));
      return {
        columns: input.columns,
        rows: input.rows.filter((row) => !present.has(JSON.stringify(keys.map((k) => display(row[k] ?? null))))),
      };
    }
    default:
      return refuse(`the operator ${typeName(operator)}`, operator);
  }
}

function literal(node: any): KqlValue {
  const value = node.LiteralValue;
  switch (kindName(node)) {
    case 'StringLiteralExpression':
      return String(value);
    case 'LongLiteralExpression':
    case 'IntLiteralExpression':
      return typeof value === 'number' ? value : Number(value.toNumber());
    case 'RealLiteralExpression':
      return Number(value);
    case 'BooleanLiteralExpression':
      return Boolean(value);
    case 'TimespanLiteralExpression':
      return new KqlTimespan(Number(value.getTotalMilliseconds()));
    case 'DateTimeLiteralExpression':
      return new KqlDateTime((value.v as Date).getTime());
    case 'NullLiteralExpression':
      return null;
    default:
      return refuse(`the literal kind ${kindName(node)}`, node);
  }
}

function scalar(node: any, row: KqlRow, scope: Scope): KqlValue {
  switch (typeName(node)) {
    case 'LiteralExpression':
      return literal(node);
    case 'DynamicExpression':
      return new KqlDynamic(JSON.parse(String(node.LiteralValue)));
    case 'ParenthesizedExpression':
      return scalar(node.Expression, row, scope);
    case 'NameReference': {
      const name = String(node.SimpleName);
      if (Object.hasOwn(row, name)) return row[name]!;
      const bound = scope.names.get(name);
      if (bound === undefined || isTable(bound)) throw new Error(`no column or scalar named ${name}`);
      return bound;
    }
    case 'PathExpression': {
      const base = scalar(node.Expression, row, scope);
      const member = String(node.Selector.SimpleName);
      const value = base instanceof KqlDynamic ? base.value : undefined;
      return new KqlDynamic(
        typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[member] : undefined,
      );
    }
    case 'FunctionCallExpression':
      return call(String(node.Name.SimpleName), elements(node.ArgumentList.Expressions), row, scope, node);
    case 'InExpression': {
      if (kindName(node) !== 'InExpression') refuse(kindName(node), node);
      const value = scalar(node.Left, row, scope);
      const list = elements(node.Right.Expressions).map((item) => scalar(item, row, scope));
      return value === null ? null : list.some((item) => equal(value, item) === true);
    }
    case 'BinaryExpression':
      return binary(kindName(node), scalar(node.Left, row, scope), scalar(node.Right, row, scope), node);
    default:
      return refuse(`the expression ${typeName(node)}`, node);
  }
}

function binary(kind: string, left: KqlValue, right: KqlValue, node: any): KqlValue {
  switch (kind) {
    case 'AndExpression':
      return left === false || right === false
        ? false
        : left === null || right === null
          ? null
          : left === true && right === true;
    case 'OrExpression':
      return left === true || right === true ? true : left === null || right === null ? null : false;
    case 'AddExpression':
    case 'SubtractExpression':
      return arithmetic(kind === 'AddExpression' ? 1 : -1, left, right, node);
    case 'EqualExpression':
      return equal(left, right);
    case 'NotEqualExpression': {
      const same = equal(left, right);
      return same === null ? null : !same;
    }
    case 'LessThanExpression':
    case 'LessThanOrEqualExpression':
    case 'GreaterThanExpression':
    case 'GreaterThanOrEqualExpression': {
      const order = compare(left, right, node);
      if (order === null) return null;
      return {
        LessThanExpression: order < 0,
        LessThanOrEqualExpression: order <= 0,
        GreaterThanExpression: order > 0,
        GreaterThanOrEqualExpression: order >= 0,
      }[kind];
    }
    case 'StartsWithExpression':
      return typeof left === 'string' && typeof right === 'string'
        ? left.toLowerCase().startsWith(right.toLowerCase())
        : null;
    default:
      return refuse(`the operator ${kind}`, node);
  }
}

function arithmetic(sign: 1 | -1, left: KqlValue, right: KqlValue, node: any): KqlValue {
  if (left === null || right === null) return null;
  if (left instanceof KqlDateTime && right instanceof KqlTimespan) return new KqlDateTime(left.ms + sign * right.ms);
  if (left instanceof KqlTimespan && right instanceof KqlTimespan) return new KqlTimespan(left.ms + sign * right.ms);
  if (left instanceof KqlDateTime && right instanceof KqlDateTime && sign === -1)
    return new KqlTimespan(left.ms - right.ms);
  if (typeof left === 'number' && typeof right === 'number') return left + sign * right;
  return refuse('arithmetic on these types', node);
}

function comparable(value: KqlValue): number | string | undefined {
  if (value instanceof KqlDateTime || value instanceof KqlTimespan) return value.ms;
  if (typeof value === 'number' || typeof value === 'string') return value;
  return undefined;
}

function compare(left: KqlValue, right: KqlValue, node: any): number | null {
  if (left === null || right === null) return null;
  const a = comparable(left);
  const b = comparable(right);
  if (a === undefined || b === undefined || typeof a !== typeof b || left.constructor !== right.constructor) {
    return refuse('a comparison of these types', node);
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function equal(left: KqlValue, right: KqlValue): boolean | null {
  if (left === null || right === null) return null;
  const a = comparable(left);
  const b = comparable(right);
  if (a !== undefined && b !== undefined) return a === b && left.constructor === right.constructor;
  return left === right;
}

/** Kusto prints a datetime as ISO 8601 with seven fraction digits, trailing zeros dropped. */
function isoDateTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}

/** The text of a value, as tostring() gives it; null and a missing dynamic are "". */
function tostring(value: KqlValue): string {
  if (value === null) return '';
  if (value instanceof KqlDynamic) {
    const inner = value.value;
    if (inner === undefined || inner === null) return '';
    return typeof inner === 'string' ? inner : JSON.stringify(inner);
  }
  if (value instanceof KqlDateTime) return isoDateTime(value.ms);
  if (value instanceof KqlTimespan) throw new Error('the test evaluator does not implement tostring of a timespan');
  return String(value);
}

function display(value: KqlValue): string {
  return `${value === null ? 'null' : value.constructor.name}:${tostring(value)}`;
}

function datetimeArgument(value: KqlValue, node: any): KqlDateTime | null {
  if (value === null) return null;
  if (value instanceof KqlDateTime) return value;
  return refuse('a non-datetime argument', node);
}

function call(name: string, args: any[], row: KqlRow, scope: Scope, node: any): KqlValue {
  const values = () => args.map((arg) => scalar(arg, row, scope));
  switch (name) {
    case 'now':
      return scope.now;
    case 'iff': {
      const [condition, then, otherwise] = values();
      return condition === true ? then! : otherwise!;
    }
    case 'startofday': {
      const day = datetimeArgument(values()[0]!, node);
      return day && new KqlDateTime(Math.floor(day.ms / DAY) * DAY);
    }
    case 'startofweek': {
      // Weeks start on Sunday; 1970-01-01 was a Thursday.
      const day = datetimeArgument(values()[0]!, node);
      if (!day) return null;
      const days = Math.floor(day.ms / DAY);
      return new KqlDateTime((days - ((days + 4) % 7)) * DAY);
    }
    case 'strlen': {
      const [text] = values();
      return typeof text === 'string' ? [...text].length : null;
    }
    case 'substring': {
      const [text, start, length] = values();
      if (typeof text !== 'string' || typeof start !== 'number') return null;
      const chars = [...text];
      return chars.slice(start, length === undefined ? undefined : start + (length as number)).join('');
    }
    case 'parse_json': {
      const [text] = values();
      if (text instanceof KqlDynamic) return text;
      if (typeof text !== 'string') return null;
      try {
        return new KqlDynamic(JSON.parse(text));
      } catch {
        return new KqlDynamic(text);
      }
    }
    case 'tostring':
      return tostring(values()[0]!);
    case 'todatetime': {
      const [value] = values();
      if (value instanceof KqlDateTime) return value;
      const text = value instanceof KqlDynamic ? value.value : value;
      if (typeof text !== 'string') return null;
      const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) || text.length <= 10 ? text : `${text}Z`);
      return Number.isNaN(ms) ? null : new KqlDateTime(ms);
    }
    case 'format_datetime': {
      const [value, format] = values();
      const day = datetimeArgument(value!, node);
      if (!day || typeof format !== 'string') return null;
      const iso = new Date(day.ms).toISOString();
      const parts: Record<string, string> = {
        yyyy: iso.slice(0, 4),
        MM: iso.slice(5, 7),
        dd: iso.slice(8, 10),
        HH: iso.slice(11, 13),
        mm: iso.slice(14, 16),
        ss: iso.slice(17, 19),
      };
      return format.replace(
        /yyyy|MM|dd|HH|mm|ss|[A-Za-z]/g,
        (token) => parts[token] ?? refuse(`the format token ${token}`, node),
      );
    }
    default:
      return refuse(`the function ${name}()`, node);
  }
}
