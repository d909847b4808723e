/**
 * Expands an Azure Pipelines YAML file the way the service does at compile time, for the
 * subset templates/ uses: typed template parameters with defaults and `values`,
 * `${{ if }}` / `${{ elseif }}` / `${{ else }}` and `${{ each }}` in mappings and sequences,
 * `${{ expr }}` in values (whole or inside a string) and as a whole key, a `stepList`
 * parameter inserted into steps as `- ${{ parameters.x }}`, `template:`
 * includes of steps, jobs and stages, `extends:`, runtime parameters of the pipeline (bound
 * to their defaults, or to the values a run is queued with), and `path@alias` references mapped to
 * local directories. Everything else throws, so nothing outside the subset passes
 * through unexpanded.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, normalize, relative, isAbsolute } from 'node:path';
import { parse } from 'yaml';
import { ExpansionError } from './errors';
import type { Scope } from './expression';
import { evaluate, parseExpression } from './expression';
import type { Value, ValueMap } from './values';
import { describe, interpolationString, isMap, toValue, truthy } from './values';

export interface ExpandOptions {
  /** The directory of the repository the pipeline file lives in (`self`). */
  selfRoot: string;
  /** Repository resource alias to a local directory holding that repository. */
  repositories: Record<string, string>;
  /** Values for the pipeline's runtime parameters, as chosen when a run is queued; the rest take their defaults. */
  runtimeParameters?: ValueMap;
}

interface FileRef {
  root: string;
  /** Absolute path of the file. */
  path: string;
}

type ListKind = 'steps' | 'jobs' | 'stages';
const LIST_KINDS: readonly string[] = ['steps', 'jobs', 'stages'];
function isListKind(k: string | undefined): k is ListKind {
  return k !== undefined && LIST_KINDS.includes(k);
}

const PARAMETER_TYPES: readonly string[] = ['string', 'number', 'boolean', 'object', 'stepList'];
const NOT_SUPPORTED_TYPES: readonly string[] = [
  'step',
  'job',
  'jobList',
  'deployment',
  'deploymentList',
  'stage',
  'stageList',
];
/** The keys one of which makes a mapping a step (a template include in a stepList argument is outside the subset). */
const STEP_KEYS: readonly string[] = [
  'task',
  'script',
  'bash',
  'pwsh',
  'powershell',
  'checkout',
  'download',
  'downloadBuild',
  'getPackage',
  'publish',
  'reviewApp',
];

type Directive =
  | { kind: 'if' | 'elseif'; condition: string }
  | { kind: 'else' }
  | { kind: 'each'; variable: string; collection: string };

function directiveOf(key: string): Directive | undefined {
  const m = /^\$\{\{\s*(.*?)\s*\}\}$/s.exec(key);
  if (m === null) return undefined;
  const body = m[1]!;
  const ifBody = /^if\s+(.+)$/s.exec(body);
  if (ifBody !== null) return { kind: 'if', condition: ifBody[1]! };
  const elseifBody = /^elseif\s+(.+)$/s.exec(body);
  if (elseifBody !== null) return { kind: 'elseif', condition: elseifBody[1]! };
  if (body === 'else') return { kind: 'else' };
  const eachBody = /^each\s+([A-Za-z_][A-Za-z0-9_]*)\s+in\s+(.+)$/s.exec(body);
  if (eachBody !== null) return { kind: 'each', variable: eachBody[1]!, collection: eachBody[2]! };
  if (/^(insert|if|elseif|else|each)\b/.test(body))
    throw new Error(`directive '${body}' is outside the supported subset`);
  return undefined;
}

class Context implements Scope {
  constructor(
    readonly file: FileRef,
    private readonly parameters: ValueMap,
    private readonly locals: ReadonlyMap<string, Value> = new Map(),
  ) {}

  lookup(name: string): Value | undefined {
    if (this.locals.has(name)) return this.locals.get(name);
    if (name === 'parameters') return this.parameters;
    return undefined;
  }

  with(name: string, value: Value): Context {
    if (name === 'parameters') throw new Error('an each-variable cannot be called parameters');
    const locals = new Map(this.locals);
    locals.set(name, value);
    return new Context(this.file, this.parameters, locals);
  }
}

/** A conditional chain: `if` then any `elseif`s then an optional `else`. */
type Chain = 'none' | 'taken' | 'open';

export class Expander {
  /** Repository aliases the pipeline declares in resources.repositories. */
  private declared: ReadonlySet<string> = new Set(['self']);

  constructor(private readonly options: ExpandOptions) {}

  expandPipeline(pipelineFile: string): ValueMap {
    const file: FileRef = { root: this.options.selfRoot, path: pipelineFile };
    const doc = this.load(file);
    this.declared = this.declaredRepositories(doc, file);
    // Runtime parameters take the values the run was queued with, else their defaults.
    const { extends: ext, parameters: runtime, ...rest } = doc;
    const chosen = this.options.runtimeParameters ?? {};
    if (runtime === undefined && Object.keys(chosen).length > 0)
      this.fail(file, 'the pipeline has no runtime parameters');
    const ctx = new Context(file, runtime === undefined ? {} : this.bind(file, runtime, chosen));
    const out = this.mapping(rest, ctx);
    if (ext === undefined) return out;
    if (!isMap(ext)) this.fail(file, 'extends must be a mapping');
    const { template, parameters, ...other } = ext;
    if (Object.keys(other).length > 0) this.fail(file, `extends: unexpected ${Object.keys(other).join(', ')}`);
    if (typeof template !== 'string') this.fail(file, 'extends.template must be a string');
    const args = parameters === undefined ? {} : this.value(parameters, ctx, undefined);
    if (!isMap(args)) this.fail(file, 'extends.parameters must be a mapping');
    const target = this.resolve(this.text(template, ctx), file);
    if ('stages' in out || 'jobs' in out || 'steps' in out)
      this.fail(file, 'a pipeline that extends a template cannot define stages, jobs or steps itself');
    out['stages'] = this.include(target, args, 'stages');
    return out;
  }

  private declaredRepositories(doc: ValueMap, file: FileRef): Set<string> {
    const names = new Set<string>(['self']);
    const resources = doc['resources'];
    if (!isMap(resources)) return names;
    const repos = resources['repositories'];
    if (repos === undefined) return names;
    if (!Array.isArray(repos)) this.fail(file, 'resources.repositories must be a sequence');
    for (const r of repos) {
      if (!isMap(r) || typeof r['repository'] !== 'string')
        this.fail(file, 'each repository resource needs a repository alias');
      names.add(r['repository']);
    }
    return names;
  }

  private load(file: FileRef): ValueMap {
    if (!existsSync(file.path)) this.fail(file, `template file not found: ${relative(file.root, file.path)}`);
    let parsed: unknown;
    try {
      parsed = parse(readFileSync(file.path, 'utf8'), { schema: 'failsafe', uniqueKeys: true });
    } catch (e) {
      this.fail(file, `not valid YAML: ${e instanceof Error ? e.message : String(e)}`);
    }
    const v = toValue(parsed, relative(file.root, file.path));
    if (!isMap(v)) this.fail(file, 'a template file must be a mapping');
    return v;
  }

  /**
   * `path@alias`: from the root of that repository. `/path`: from the root of the current
   * file's repository. `path`: relative to the directory of the current file.
   */
  private resolve(ref: string, from: FileRef): FileRef {
    const at = ref.lastIndexOf('@');
    let full: string;
    let root = from.root;
    if (at >= 0) {
      const alias = ref.slice(at + 1);
      if (!this.declared.has(alias))
        this.fail(from, `template ${ref}: repository ${alias} is not declared in resources.repositories`);
      const mapped = alias === 'self' ? this.options.selfRoot : this.options.repositories[alias];
      if (mapped === undefined) this.fail(from, `template ${ref}: no local directory for repository ${alias}`);
      root = mapped;
      full = join(root, ref.slice(0, at).replace(/^\/+/, ''));
    } else if (ref.startsWith('/')) {
      full = join(root, ref.replace(/^\/+/, ''));
    } else {
      full = join(dirname(from.path), ref);
    }
    const inside = relative(root, normalize(full));
    if (inside.startsWith('..') || isAbsolute(inside)) this.fail(from, `template ${ref} is outside its repository`);
    return { root, path: normalize(full) };
  }

  private include(file: FileRef, args: ValueMap, kind: ListKind): Value[] {
    const doc = this.load(file);
    const { parameters: spec, ...body } = doc;
    const keys = Object.keys(body);
    if (keys.length !== 1 || keys[0] !== kind)
      this.fail(
        file,
        `a ${kind} template must have exactly the keys parameters and ${kind}, found ${keys.join(', ') || 'nothing'}`,
      );
    const bound = this.bind(file, spec ?? [], args);
    const list = body[kind];
    if (!Array.isArray(list)) this.fail(file, `${kind} must be a sequence`);
    return this.sequence(list, new Context(file, bound), kind);
  }

  private bind(file: FileRef, spec: Value, args: ValueMap): ValueMap {
    if (!Array.isArray(spec)) this.fail(file, 'parameters must be a sequence of typed parameters');
    const out: ValueMap = {};
    const known = new Set<string>();
    for (const p of spec) {
      if (!isMap(p)) this.fail(file, 'each parameter must be a mapping');
      const { name, type = 'string', default: dflt, values, displayName, ...other } = p;
      if (Object.keys(other).length > 0)
        this.fail(file, `parameter keys ${Object.keys(other).join(', ')} are outside the supported subset`);
      if (typeof name !== 'string' || name === '') this.fail(file, 'a parameter needs a name');
      if (displayName !== undefined && typeof displayName !== 'string')
        this.fail(file, `parameter ${name}: displayName must be a string`);
      if (typeof type !== 'string') this.fail(file, `parameter ${name}: type must be a string`);
      if (NOT_SUPPORTED_TYPES.includes(type))
        this.fail(file, `parameter ${name}: type ${type} is outside the supported subset`);
      if (!PARAMETER_TYPES.includes(type)) this.fail(file, `parameter ${name}: unknown type ${type}`);
      known.add(name);
      let raw: Value;
      if (Object.hasOwn(args, name)) raw = args[name] ?? null;
      else if (dflt !== undefined) raw = dflt;
      else this.fail(file, `parameter ${name} is required and was not given`);
      const v = this.coerce(file, name, type, raw);
      if (values !== undefined) {
        if (!Array.isArray(values)) this.fail(file, `parameter ${name}: values must be a sequence`);
        if (!values.some((allowed) => allowed === v))
          this.fail(
            file,
            `parameter ${name}: ${describe(v)} is not one of ${values.map((x) => JSON.stringify(x)).join(', ')}`,
          );
      }
      out[name] = v;
    }
    for (const k of Object.keys(args)) if (!known.has(k)) this.fail(file, `unexpected parameter ${k}`);
    return out;
  }

  private coerce(file: FileRef, name: string, type: string, v: Value): Value {
    switch (type) {
      case 'string':
        if (typeof v === 'string') return v;
        if (typeof v === 'number' || typeof v === 'boolean') return interpolationString(v, name);
        return this.fail(file, `parameter ${name}: expected a string, got ${describe(v)}`);
      case 'boolean':
        if (typeof v === 'boolean') return v;
        if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
        return this.fail(file, `parameter ${name}: expected a boolean, got ${describe(v)}`);
      case 'number':
        if (typeof v === 'number') return v;
        if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
        return this.fail(file, `parameter ${name}: expected a number, got ${describe(v)}`);
      case 'stepList':
        if (!Array.isArray(v))
          return this.fail(file, `parameter ${name}: expected a list of steps, got ${describe(v)}`);
        for (const [i, step] of v.entries()) {
          if (!isMap(step) || !Object.keys(step).some((k) => STEP_KEYS.includes(k)))
            this.fail(file, `parameter ${name}: item ${i} is not a step (${describe(step)})`);
        }
        return v;
      default:
        return v;
    }
  }

  private value(node: Value, ctx: Context, key: string | undefined): Value {
    if (typeof node === 'string') return this.scalar(node, ctx);
    if (Array.isArray(node)) return this.sequence(node, ctx, isListKind(key) ? key : undefined);
    if (isMap(node)) return this.mapping(node, ctx);
    return node;
  }

  /** A whole `${{ expr }}` keeps its type; expressions inside a longer string are printed into it. */
  private scalar(s: string, ctx: Context): Value {
    if (!s.includes('${{')) return s;
    const parts = this.splitExpressions(s, ctx);
    if (parts.length === 1 && typeof parts[0] !== 'string') return this.eval(parts[0]!.expr, ctx);
    return parts
      .map((p) =>
        typeof p === 'string' ? p : interpolationString(this.eval(p.expr, ctx), `${ctx.file.path}: ${p.expr}`),
      )
      .join('');
  }

  private text(s: string, ctx: Context): string {
    const v = this.scalar(s, ctx);
    if (typeof v !== 'string') this.fail(ctx.file, `expected a string from ${s}, got ${describe(v)}`);
    return v;
  }

  private splitExpressions(s: string, ctx: Context): Array<string | { expr: string }> {
    const parts: Array<string | { expr: string }> = [];
    let i = 0;
    while (i < s.length) {
      const start = s.indexOf('${{', i);
      if (start < 0) {
        parts.push(s.slice(i));
        break;
      }
      if (start > i) parts.push(s.slice(i, start));
      let j = start + 3;
      let quoted = false;
      while (j < s.length && (quoted || !s.startsWith('}}', j))) {
        if (s[j] === "'") quoted = !quoted;
        j++;
      }
      if (j >= s.length) this.fail(ctx.file, `unterminated \${{ in: ${s}`);
      parts.push({ expr: s.slice(start + 3, j).trim() });
      i = j + 2;
    }
    return parts;
  }

  private eval(src: string, ctx: Context): Value {
    try {
      return evaluate(parseExpression(src), ctx, src);
    } catch (e) {
      if (e instanceof ExpansionError) throw e;
      return this.fail(ctx.file, e instanceof Error ? e.message : String(e));
    }
  }

  private condition(src: string, ctx: Context): boolean {
    return truthy(this.eval(src, ctx));
  }

  private iterate(collection: string, ctx: Context): Value[] {
    const c = this.eval(collection, ctx);
    if (c === null) return [];
    if (Array.isArray(c)) return c;
    if (isMap(c)) return Object.entries(c).map(([key, value]) => ({ key, value }));
    return this.fail(ctx.file, `each over ${describe(c)} (${collection})`);
  }

  private directive(key: string, ctx: Context): Directive | undefined {
    try {
      return directiveOf(key);
    } catch (e) {
      return this.fail(ctx.file, e instanceof Error ? e.message : String(e));
    }
  }

  private mapping(node: ValueMap, ctx: Context): ValueMap {
    const out: ValueMap = {};
    const put = (k: string, v: Value): void => {
      if (Object.hasOwn(out, k)) this.fail(ctx.file, `key ${k} is defined twice`);
      out[k] = v;
    };
    const merge = (body: Value, c: Context): void => {
      if (!isMap(body))
        this.fail(ctx.file, `the body of a conditional or each in a mapping must be a mapping, got ${describe(body)}`);
      for (const [k, v] of Object.entries(this.mapping(body, c))) put(k, v);
    };
    let chain: Chain = 'none';
    for (const [key, v] of Object.entries(node)) {
      const d = this.directive(key, ctx);
      if (d === undefined) {
        chain = 'none';
        put(this.key(key, ctx), this.value(v, ctx, key));
        continue;
      }
      chain = this.step(d, chain, ctx, (c) => merge(v, c));
    }
    return out;
  }

  /** Runs one directive of a chain; returns the chain state after it. */
  private step(d: Directive, chain: Chain, ctx: Context, emit: (c: Context) => void): Chain {
    switch (d.kind) {
      case 'if':
        if (this.condition(d.condition, ctx)) {
          emit(ctx);
          return 'taken';
        }
        return 'open';
      case 'elseif':
        if (chain === 'none') this.fail(ctx.file, `elseif ${d.condition} without an if before it`);
        if (chain === 'open' && this.condition(d.condition, ctx)) {
          emit(ctx);
          return 'taken';
        }
        return chain;
      case 'else':
        if (chain === 'none') this.fail(ctx.file, 'else without an if before it');
        if (chain === 'open') emit(ctx);
        return 'none';
      case 'each':
        for (const item of this.iterate(d.collection, ctx)) emit(ctx.with(d.variable, item));
        return 'none';
    }
  }

  private key(key: string, ctx: Context): string {
    if (!key.includes('${{')) return key;
    if (!/^\$\{\{.*\}\}$/s.test(key) || this.splitExpressions(key, ctx).length !== 1)
      this.fail(ctx.file, `a key with an expression inside other text is outside the supported subset: ${key}`);
    return this.text(key, ctx);
  }

  private sequence(list: Value[], ctx: Context, kind: ListKind | undefined): Value[] {
    const out: Value[] = [];
    let chain: Chain = 'none';
    for (const item of list) {
      if (isMap(item)) {
        const keys = Object.keys(item);
        const d = keys.length === 1 ? this.directive(keys[0]!, ctx) : undefined;
        if (d !== undefined) {
          const body = item[keys[0]!] ?? null;
          if (!Array.isArray(body))
            this.fail(ctx.file, `the body of ${keys[0]} in a sequence must be a sequence, got ${describe(body)}`);
          chain = this.step(d, chain, ctx, (c) => out.push(...this.sequence(body, c, kind)));
          continue;
        }
        if ('template' in item) {
          chain = 'none';
          out.push(...this.templateItem(item, ctx, kind));
          continue;
        }
      }
      chain = 'none';
      const v = this.value(item, ctx, undefined);
      // `- ${{ parameters.steps }}`: a whole expression that yields a sequence in a list of
      // steps, jobs or stages is inserted item by item, as the service inserts a stepList.
      if (kind !== undefined && typeof item === 'string' && Array.isArray(v)) out.push(...v);
      else out.push(v);
    }
    return out;
  }

  private templateItem(item: ValueMap, ctx: Context, kind: ListKind | undefined): Value[] {
    if (kind === undefined) this.fail(ctx.file, 'template includes are supported in steps, jobs and stages only');
    const { template, parameters, ...other } = item;
    if (Object.keys(other).length > 0)
      this.fail(ctx.file, `template include: unexpected ${Object.keys(other).join(', ')}`);
    if (typeof template !== 'string') this.fail(ctx.file, 'template: must name a file');
    const args = parameters === undefined ? {} : this.value(parameters, ctx, undefined);
    if (!isMap(args)) this.fail(ctx.file, `template ${template}: parameters must be a mapping`);
    return this.include(this.resolve(this.text(template, ctx), ctx.file), args, kind);
  }

  private fail(file: FileRef, message: string): never {
    throw new ExpansionError(relative(file.root, file.path) || file.path, message);
  }
}
