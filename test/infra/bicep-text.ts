/**
 * Reads the Bicep templates as text. There is no Bicep compiler here, so the infrastructure tests look at the
 * source: resources and their bodies, object literals, params, outputs and module bindings. The templates are
 * kept plain (one property per line, no multi-line expressions) so this stays small.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../..');
export const INFRA = join(ROOT, 'infra');

export function read(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8');
}

/** Every file under infra/, as paths relative to the repository root. */
export function infraFiles(extension?: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (extension === undefined || entry.name.endsWith(extension)) found.push(relative(ROOT, path));
    }
  };
  walk(INFRA);
  return found.sort();
}

/** Removes `//` line comments and `/* *\/` block comments, keeping strings intact. */
export function stripComments(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === "'") inString = false;
    } else if (c === "'") {
      // ''' multi-line strings are not used in these templates.
      inString = true;
      out += c;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      i = text.indexOf('*/', i + 2) + 1;
    } else {
      out += c;
    }
  }
  return out;
}

/** The text between the `{` at or after `from` and its matching `}`, braces in strings ignored. */
export function braceBody(text: string, from: number): string {
  const open = text.indexOf('{', from);
  if (open === -1) throw new Error(`no { after offset ${from}`);
  let depth = 0;
  let inString = false;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === "'") inString = false;
    } else if (c === "'") inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return text.slice(open + 1, i);
  }
  throw new Error(`unbalanced { at offset ${open}`);
}

export interface BicepResource {
  readonly symbol: string;
  readonly type: string;
  readonly apiVersion: string;
  readonly existing: boolean;
  readonly condition: string | undefined;
  /** For `[for item in source: {...}]`: one resource per element of `source`, `item` naming it in the body. */
  readonly loop: { readonly item: string; readonly source: string } | undefined;
  readonly body: string;
}

/** Every `resource` declaration in a template (comments removed). */
export function resources(template: string): BicepResource[] {
  const text = stripComments(template);
  const found: BicepResource[] = [];
  const pattern =
    /^resource (\w+) '([^'@]+)@([^']+)'( existing)? = (?:if \((.*)\) \{|\{|\[\s*for (\w+) in (\w+): \{)/gm;
  for (const match of text.matchAll(pattern)) {
    const [, symbol, type, apiVersion, existing, condition, item, source] = match;
    found.push({
      symbol: symbol!,
      type: type!,
      apiVersion: apiVersion!,
      existing: existing !== undefined,
      condition,
      loop: item === undefined ? undefined : { item, source: source! },
      body: braceBody(text, match.index),
    });
  }
  return found;
}

/**
 * The top-level `key: value` entries of an object body (the text inside its braces). Nested objects and
 * arrays are returned as their raw text. Quoted keys lose their quotes.
 */
export function objectEntries(body: string): Map<string, string> {
  const entries = new Map<string, string>();
  const lines = body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const match = /^\s*('[^']+'|[A-Za-z_][\w]*)\s*:\s*(.*)$/.exec(lines[i]!);
    if (!match) continue;
    const key = match[1]!.replace(/^'|'$/g, '');
    let value = match[2]!.trim();
    // A nested object or array: gather lines until its brackets close.
    let depth = bracketDepth(value);
    while (depth > 0 && i + 1 < lines.length) {
      value += '\n' + lines[++i];
      depth = bracketDepth(value);
    }
    entries.set(key, value);
  }
  return entries;
}

function bracketDepth(text: string): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === "'") inString = false;
    } else if (c === "'") inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return depth;
}

/** The body of `name: {` (first match) inside a resource or object body. */
export function nestedObject(body: string, name: string): string {
  const at = new RegExp(`^\\s*${name}:\\s*\\{`, 'm').exec(body);
  if (!at) throw new Error(`no object "${name}"`);
  return braceBody(body, at.index);
}

export interface BicepParam {
  readonly type: string;
  /** The default's source text, when there is one. */
  readonly defaultValue: string | undefined;
  /** The values of an `@allowed([...])` decorator, as source text. */
  readonly allowed: string[] | undefined;
  readonly minValue: number | undefined;
  readonly maxValue: number | undefined;
  /** Every decorator line above the param, as source text. */
  readonly decorators: string;
}

export function params(template: string): Map<string, BicepParam> {
  const lines = stripComments(template).split('\n');
  const found = new Map<string, BicepParam>();
  lines.forEach((line, index) => {
    const match = /^param (\w+) (\w+)(?: = (.+))?$/.exec(line);
    if (!match) return;
    // Decorators sit on the lines right above the param, up to a blank line or the previous declaration.
    let first = index;
    while (
      first > 0 &&
      lines[first - 1]!.trim() !== '' &&
      !/^(param|var|resource|module|output|targetScope) /.test(lines[first - 1]!)
    ) {
      first--;
    }
    const decorators = lines.slice(first, index).join('\n');
    const allowed = /@allowed\(\[([\s\S]*?)\]\)/.exec(decorators)?.[1];
    const bound = (name: string) => {
      const value = new RegExp(`@${name}\\((-?\\d+)\\)`).exec(decorators)?.[1];
      return value === undefined ? undefined : Number(value);
    };
    found.set(match[1]!, {
      type: match[2]!,
      defaultValue: match[3]?.trim(),
      allowed: allowed
        ?.split('\n')
        .map((value) => value.trim())
        .filter((value) => value !== ''),
      minValue: bound('minValue'),
      maxValue: bound('maxValue'),
      decorators,
    });
  });
  return found;
}

/** `var name = value` declarations whose value fits on one line or is an object/array literal. */
export function variables(template: string): Map<string, string> {
  const text = stripComments(template);
  const found = new Map<string, string>();
  for (const match of text.matchAll(/^var (\w+) = (.*)$/gm)) {
    let value = match[2]!.trim();
    if (bracketDepth(value) > 0) {
      const rest = text.slice(match.index + match[0].length);
      let i = 0;
      while (bracketDepth(value) > 0 && i < rest.length) value += rest[i++];
    }
    found.set(match[1]!, value);
  }
  return found;
}

/** `output NAME type = expression` declarations. */
export function outputs(template: string): Map<string, { type: string; value: string; secure: boolean }> {
  const text = stripComments(template);
  const found = new Map<string, { type: string; value: string; secure: boolean }>();
  for (const match of text.matchAll(/^(@secure\(\)\s*\n)?output (\w+) (\w+) = (.+)$/gm)) {
    found.set(match[2]!, { type: match[3]!, value: match[4]!.trim(), secure: match[1] !== undefined });
  }
  return found;
}

/** A module's `params: { ... }` bindings in main.bicep, by module symbol. */
export function moduleParams(template: string, symbol: string): Map<string, string> {
  const text = stripComments(template);
  const at = new RegExp(`^module ${symbol} '[^']+' = \\{`, 'm').exec(text);
  if (!at) throw new Error(`no module ${symbol}`);
  return objectEntries(nestedObject(braceBody(text, at.index), 'params'));
}

/** The path of a module, relative to infra/. */
export function modulePath(template: string, symbol: string): string {
  const at = new RegExp(`^module ${symbol} '([^']+)' = \\{`, 'm').exec(stripComments(template));
  if (!at) throw new Error(`no module ${symbol}`);
  return at[1]!;
}

/** A Bicep single-quoted string literal's value, with `${name}` filled from `values`. */
export function evaluateString(literal: string, values: Readonly<Record<string, string | number>>): string {
  const match = /^'((?:[^'\\]|\\.)*)'$/.exec(literal.trim());
  if (!match) throw new Error(`not a string literal: ${literal}`);
  return match[1]!
    .replace(/\$\{([^}]+)\}/g, (_, name: string) => {
      if (!(name in values)) throw new Error(`no value for \${${name}} in ${literal}`);
      return String(values[name]);
    })
    .replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/** Splits the arguments of a call like `guid(a, b, c)` at top-level commas. */
export function callArguments(expression: string, fn: string): string[] {
  const match = new RegExp(`^${fn}\\((.*)\\)$`).exec(expression.trim());
  if (!match) throw new Error(`not a ${fn}(...) call: ${expression}`);
  const args: string[] = [];
  let depth = 0;
  let current = '';
  for (const c of match[1]!) {
    if (c === '(' || c === '[') depth++;
    if (c === ')' || c === ']') depth--;
    if (c === ',' && depth === 0) {
      args.push(current.trim());
      current = '';
    } else current += c;
  }
  args.push(current.trim());
  return args;
}

/** A stand-in for `uniqueString(...)`: 13 lowercase letters and digits, as the function returns. */
export const SAMPLE_UNIQUE_STRING = 'q7w3e9r1t5y2u';

interface Scope {
  readonly path: string;
  readonly text: string;
  /** For a module: its params' bindings in the parent, evaluated in `parent`. */
  readonly bindings?: Map<string, string>;
  readonly parent?: Scope;
}

/** The values main.bicepparam gives, as source text (readEnvironmentVariable(...) resolves to its default). */
export function bicepparamValues(): Map<string, string> {
  const text = stripComments(read('infra/main.bicepparam'));
  const found = new Map<string, string>();
  for (const match of text.matchAll(/^param (\w+) = (.+)$/gm)) found.set(match[1]!, match[2]!.trim());
  return found;
}

/**
 * What an expression in main.bicep (or a module, followed through its bindings) comes to with the default
 * parameters: string literals with interpolation, numbers, params (main.bicepparam first, then the default),
 * vars, `module.outputs.x` and `resource.name`. `uniqueString(...)` becomes SAMPLE_UNIQUE_STRING. Anything
 * else is refused, so a template change that this cannot follow fails loudly instead of passing.
 */
export function resolveValue(expression: string, scope: Scope = mainScope()): string {
  const expr = expression.trim();
  if (/^'(?:[^'\\]|\\.)*'$/.test(expr)) {
    const names = [...expr.matchAll(/\$\{([^}]+)\}/g)].map((m) => m[1]!);
    return evaluateString(expr, Object.fromEntries(names.map((name) => [name, resolveValue(name, scope)])));
  }
  if (/^-?\d+$/.test(expr)) return expr;
  const ternary = splitTernary(expr);
  if (ternary) {
    const [condition, whenTrue, whenFalse] = ternary;
    const empty = /^empty\((\w+)\)$/.exec(condition);
    if (!empty) throw new Error(`${scope.path}: cannot evaluate the condition "${condition}" here`);
    return resolveValue(resolveValue(empty[1]!, scope) === '' ? whenTrue : whenFalse, scope);
  }
  if (expr === 'environment().suffixes.storage') return 'core.windows.net';
  if (/^(?:toLower\()?uniqueString\(.*\)\)?$/.test(expr)) return SAMPLE_UNIQUE_STRING;
  const fromEnv = /^readEnvironmentVariable\('\w+', (.+)\)$/.exec(expr);
  if (fromEnv) return resolveValue(fromEnv[1]!, scope);
  const toInt = /^int\((.+)\)$/.exec(expr);
  if (toInt) {
    const text = resolveValue(toInt[1]!, scope);
    if (!/^-?\d+$/.test(text)) throw new Error(`${scope.path}: int() of "${text}" is not a number`);
    return text;
  }
  if (/^[A-Za-z_]\w*$/.test(expr)) {
    const variable = variables(scope.text).get(expr);
    if (variable !== undefined) return resolveValue(variable, scope);
    const param = params(scope.text).get(expr);
    if (param === undefined) throw new Error(`${scope.path}: no param or var "${expr}"`);
    const bound = scope.bindings?.get(expr);
    if (bound !== undefined) return resolveValue(bound, scope.parent);
    if (scope.bindings === undefined) {
      const given = bicepparamValues().get(expr);
      if (given !== undefined) return resolveValue(given, scope);
    }
    if (param.defaultValue === undefined) throw new Error(`${scope.path}: param "${expr}" has no value`);
    return resolveValue(param.defaultValue, scope);
  }
  const moduleOutput = /^(\w+)\.outputs\.(\w+)$/.exec(expr);
  if (moduleOutput) {
    const [, symbol, name] = moduleOutput;
    const path = join('infra', modulePath(scope.text, symbol!));
    const child: Scope = { path, text: read(path), bindings: moduleParams(scope.text, symbol!), parent: scope };
    const output = outputs(child.text).get(name!);
    if (output === undefined) throw new Error(`${path}: no output "${name}"`);
    return resolveValue(output.value, child);
  }
  const resourceName = /^(\w+)\.name$/.exec(expr);
  if (resourceName) {
    const resource = resources(scope.text).find((r) => r.symbol === resourceName[1]);
    const name = resource && objectEntries(resource.body).get('name');
    if (name === undefined) throw new Error(`${scope.path}: no resource "${resourceName[1]}" with a name`);
    return resolveValue(name, scope);
  }
  throw new Error(`${scope.path}: cannot evaluate "${expr}" here`);
}

/** `condition ? a : b` at the top level of an expression (not inside strings or calls), split in three. */
function splitTernary(expression: string): [string, string, string] | undefined {
  let depth = 0;
  let inString = false;
  let question = -1;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === "'") inString = false;
    } else if (c === "'") inString = true;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (depth === 0 && c === '?' && question === -1) question = i;
    else if (depth === 0 && c === ':' && question !== -1) {
      return [
        expression.slice(0, question).trim(),
        expression.slice(question + 1, i).trim(),
        expression.slice(i + 1).trim(),
      ];
    }
  }
  return undefined;
}

export function mainScope(): Scope {
  return { path: 'infra/main.bicep', text: read('infra/main.bicep') };
}

/** A module's scope, its params bound by main.bicep. */
export function moduleScope(symbol: string): Scope {
  const main = mainScope();
  const path = join('infra', modulePath(main.text, symbol));
  return { path, text: read(path), bindings: moduleParams(main.text, symbol), parent: main };
}
