/**
 * The template-expression language (`${{ ... }}`), cut down to what templates/ uses:
 * literals, names, member and index access, filtered arrays (`list.*.name`), and the
 * functions in FUNCTIONS. Anything else (operators, other functions, `variables`) is a
 * parse or evaluation error. Functions behave as the service's (documented on Microsoft's
 * Expressions page; the code of the same functions, `Functions/v1` in actions/runner's
 * DTExpressions2, settles what the page leaves open, such as replace() ignoring case).
 */
import type { Value } from './values';
import { describe, interpolationString, isMap, truthy } from './values';

export type Expr =
  | { kind: 'literal'; value: Value }
  | { kind: 'name'; name: string }
  | { kind: 'member'; object: Expr; key: string }
  | { kind: 'filter'; object: Expr }
  | { kind: 'index'; object: Expr; index: Expr }
  | { kind: 'call'; fn: string; args: Expr[] };

type Token =
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'id'; v: string }
  | { t: 'punct'; v: '(' | ')' | '[' | ']' | ',' | '.' | '*' };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let s = '';
      i++;
      for (;;) {
        if (i >= src.length) throw new Error(`unterminated string in: ${src}`);
        if (src[i] === "'") {
          if (src[i + 1] === "'") {
            s += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        s += src[i];
        i++;
      }
      out.push({ t: 'str', v: s });
    } else if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^-?[0-9]+(\.[0-9]+)?/.exec(src.slice(i));
      if (m === null) throw new Error(`bad number in: ${src}`);
      out.push({ t: 'num', v: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(src.slice(i));
      if (m === null) throw new Error(`bad name in: ${src}`);
      out.push({ t: 'id', v: m[0] });
      i += m[0].length;
    } else if (c === '(' || c === ')' || c === '[' || c === ']' || c === ',' || c === '.' || c === '*') {
      out.push({ t: 'punct', v: c });
      i++;
    } else {
      throw new Error(`'${c}' is outside the supported expression subset in: ${src}`);
    }
  }
  return out;
}

export function parseExpression(src: string): Expr {
  const tokens = tokenize(src);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const expectPunct = (p: string): void => {
    const tok = tokens[pos];
    if (tok === undefined || tok.t !== 'punct' || tok.v !== p) throw new Error(`expected '${p}' in: ${src}`);
    pos++;
  };

  function primary(): Expr {
    const tok = tokens[pos];
    if (tok === undefined) throw new Error(`unexpected end of expression: ${src}`);
    pos++;
    if (tok.t === 'str') return { kind: 'literal', value: tok.v };
    if (tok.t === 'num') return { kind: 'literal', value: tok.v };
    if (tok.t === 'id') {
      if (tok.v === 'true') return { kind: 'literal', value: true };
      if (tok.v === 'false') return { kind: 'literal', value: false };
      if (tok.v === 'null') return { kind: 'literal', value: null };
      const next = peek();
      if (next !== undefined && next.t === 'punct' && next.v === '(') {
        pos++;
        const args: Expr[] = [];
        const close = peek();
        if (close !== undefined && close.t === 'punct' && close.v === ')') {
          pos++;
        } else {
          for (;;) {
            args.push(postfix());
            const sep = tokens[pos];
            if (sep !== undefined && sep.t === 'punct' && sep.v === ',') {
              pos++;
              continue;
            }
            expectPunct(')');
            break;
          }
        }
        return { kind: 'call', fn: tok.v, args };
      }
      return { kind: 'name', name: tok.v };
    }
    throw new Error(`unexpected '${tok.v}' in: ${src}`);
  }

  function postfix(): Expr {
    let e = primary();
    for (;;) {
      const tok = peek();
      if (tok === undefined || tok.t !== 'punct') return e;
      if (tok.v === '.') {
        pos++;
        const key = tokens[pos];
        if (key !== undefined && key.t === 'punct' && key.v === '*') {
          pos++;
          e = { kind: 'filter', object: e };
          continue;
        }
        if (key === undefined || key.t !== 'id') throw new Error(`expected a property name after '.' in: ${src}`);
        pos++;
        e = { kind: 'member', object: e, key: key.v };
      } else if (tok.v === '[') {
        pos++;
        const index = postfix();
        expectPunct(']');
        e = { kind: 'index', object: e, index };
      } else {
        return e;
      }
    }
  }

  const e = postfix();
  if (pos !== tokens.length) throw new Error(`unexpected trailing input in: ${src}`);
  return e;
}

export interface Scope {
  /** undefined: the name is not known here (an error, not null). */
  lookup(name: string): Value | undefined;
}

function member(object: Value, key: string | number, src: string): Value {
  // The service yields null for a missing property or for a property of null; the
  // templates rely on that only through coalesce() and if.
  if (object === null) return null;
  if (Array.isArray(object)) {
    if (typeof key !== 'number' || !Number.isInteger(key))
      throw new Error(`sequence indexed by ${String(key)} in: ${src}`);
    return object[key] ?? null;
  }
  if (isMap(object)) {
    const k = String(key);
    // Property names are case-insensitive in the service.
    if (Object.hasOwn(object, k)) return object[k] ?? null;
    const found = Object.keys(object).find((name) => name.toLowerCase() === k.toLowerCase());
    return found === undefined ? null : (object[found] ?? null);
  }
  throw new Error(`cannot read '${key}' of ${describe(object)} in: ${src}`);
}

/** eq() as the service does it: strings compare ignoring case; the right side is converted to the left's type. */
function equals(a: Value, b: Value): boolean {
  if (a === null || b === null) return a === b;
  if (typeof a === 'string') {
    if (typeof b === 'string') return a.toLowerCase() === b.toLowerCase();
    if (typeof b === 'number' || typeof b === 'boolean')
      return a.toLowerCase() === interpolationString(b, 'eq').toLowerCase();
    return false;
  }
  if (typeof a === 'boolean') return a === truthy(b);
  if (typeof a === 'number') {
    if (typeof b === 'number') return a === b;
    if (typeof b === 'string' && b.trim() !== '' && Number.isFinite(Number(b))) return a === Number(b);
    if (typeof b === 'boolean') return a === (b ? 1 : 0);
    return false;
  }
  return a === b;
}

function arity(fn: string, args: readonly unknown[], min: number, max: number): void {
  if (args.length < min || args.length > max)
    throw new Error(`${fn}() takes ${min === max ? min : `${min} to ${max}`} arguments, got ${args.length}`);
}

function str(fn: string, v: Value): string {
  if (typeof v !== 'string') throw new Error(`${fn}() needs a string, got ${describe(v)}`);
  return v;
}

/** A string parameter as the service casts it ("casts parameters to String"); collections are outside the subset. */
function asString(fn: string, v: Value): string {
  if (Array.isArray(v) || isMap(v)) throw new Error(`${fn}() of ${describe(v)} is outside the supported subset`);
  return interpolationString(v, `${fn}()`);
}

/** replace(): every occurrence, ordinal and ignoring case, as Functions/v1/Replace.cs does. */
function replaceIgnoringCase(s: string, from: string, to: string): string {
  const lower = s.toLowerCase();
  const needle = from.toLowerCase();
  let out = '';
  let i = 0;
  for (let at = lower.indexOf(needle); at >= 0; at = lower.indexOf(needle, i)) {
    out += s.slice(i, at) + to;
    i = at + from.length;
  }
  return out + s.slice(i);
}

type Fn = (args: Value[]) => Value;
const FUNCTION_TABLE: Record<string, Fn> = {
  eq: (a) => {
    arity('eq', a, 2, 2);
    return equals(a[0]!, a[1]!);
  },
  ne: (a) => {
    arity('ne', a, 2, 2);
    return !equals(a[0]!, a[1]!);
  },
  and: (a) => {
    arity('and', a, 2, 10);
    return a.every(truthy);
  },
  or: (a) => {
    arity('or', a, 2, 10);
    return a.some(truthy);
  },
  not: (a) => {
    arity('not', a, 1, 1);
    return !truthy(a[0]!);
  },
  // The right parameters are converted to the left's type, as eq() does.
  in: (a) => {
    arity('in', a, 1, 20);
    return a.slice(1).some((v) => equals(a[0]!, v));
  },
  length: (a) => {
    arity('length', a, 1, 1);
    const v = a[0]!;
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (isMap(v)) return Object.keys(v).length;
    throw new Error(`length() of ${describe(v)}`);
  },
  coalesce: (a) => {
    arity('coalesce', a, 1, 10);
    // When every argument is null or empty, the service answers with the last one.
    return a.find((v) => v !== null && v !== '') ?? a[a.length - 1]!;
  },
  contains: (a) => {
    arity('contains', a, 2, 2);
    return asString('contains', a[0]!).toLowerCase().includes(asString('contains', a[1]!).toLowerCase());
  },
  startsWith: (a) => {
    arity('startsWith', a, 2, 2);
    return asString('startsWith', a[0]!).toLowerCase().startsWith(asString('startsWith', a[1]!).toLowerCase());
  },
  // An array: any item equal to the right parameter (the item converted to its type); an
  // object: any property value; anything else: false.
  containsValue: (a) => {
    arity('containsValue', a, 2, 2);
    const [left, right] = [a[0]!, a[1]!];
    const items = Array.isArray(left) ? left : isMap(left) ? Object.values(left) : [];
    return items.some((item) => equals(right, item));
  },
  join: (a) => {
    arity('join', a, 2, 2);
    const separator = asString('join', a[0]!);
    const list = a[1]!;
    // Not an array: the parameter converted to a string (a mapping converts to nothing).
    if (isMap(list)) return '';
    if (!Array.isArray(list)) return asString('join', list);
    return list
      .map((item) => (Array.isArray(item) || isMap(item) ? '' : interpolationString(item, 'join()')))
      .join(separator);
  },
  upper: (a) => {
    arity('upper', a, 1, 1);
    return asString('upper', a[0]!).toUpperCase();
  },
  // Ordinal, as Functions/v1/Split.cs (String.Split(string)).
  split: (a) => {
    arity('split', a, 2, 2);
    return asString('split', a[0]!).split(asString('split', a[1]!));
  },
  replace: (a) => {
    arity('replace', a, 3, 3);
    const s = a[0] === null ? '' : str('replace', a[0]!);
    const from = str('replace', a[1]!);
    if (from === '') throw new Error('replace() with an empty search string');
    return replaceIgnoringCase(s, from, str('replace', a[2]!));
  },
  format: (a) => {
    arity('format', a, 1, 10);
    const fmt = str('format', a[0]!);
    return fmt.replace(/\{\{|\}\}|\{([0-9]+)\}|\{[^}]*\}/g, (m, index: string | undefined) => {
      if (m === '{{') return '{';
      if (m === '}}') return '}';
      if (index === undefined) throw new Error(`format() placeholder ${m} is outside the supported subset`);
      const arg = a[Number(index) + 1];
      if (arg === undefined) throw new Error(`format() has no argument for ${m}`);
      return interpolationString(arg, 'format()');
    });
  },
};
// A Map, so that names like `constructor` are not found on Object.prototype.
const FUNCTIONS = new Map<string, Fn>(Object.entries(FUNCTION_TABLE));

/** A filtered array (`list.*`): member access applies to each of its items. */
class Filtered {
  constructor(readonly items: Value[]) {}
}

function settle(v: Value | Filtered): Value {
  return v instanceof Filtered ? v.items : v;
}

function elementsOf(v: Value): Value[] {
  if (Array.isArray(v)) return v;
  if (isMap(v)) return Object.values(v);
  return [];
}

export function evaluate(e: Expr, scope: Scope, src: string): Value {
  return settle(evaluateInner(e, scope, src));
}

function evaluateInner(e: Expr, scope: Scope, src: string): Value | Filtered {
  switch (e.kind) {
    case 'literal':
      return e.value;
    case 'name': {
      const v = scope.lookup(e.name);
      if (v === undefined)
        throw new Error(`unknown name '${e.name}' (only parameters and each-variables are supported) in: ${src}`);
      return v;
    }
    case 'filter': {
      const object = evaluateInner(e.object, scope, src);
      if (object instanceof Filtered) return new Filtered(object.items.flatMap(elementsOf));
      return new Filtered(elementsOf(object));
    }
    case 'member': {
      const object = evaluateInner(e.object, scope, src);
      // Items without the property (or that are not mappings) drop out of a filtered array.
      if (object instanceof Filtered)
        return new Filtered(
          object.items
            .filter(isMap)
            .map((item) => member(item, e.key, src))
            .filter((v) => v !== null),
        );
      return member(object, e.key, src);
    }
    case 'index': {
      const index = evaluate(e.index, scope, src);
      if (typeof index !== 'string' && typeof index !== 'number')
        throw new Error(`index must be a string or number in: ${src}`);
      return member(evaluate(e.object, scope, src), index, src);
    }
    case 'call': {
      const fn = FUNCTIONS.get(e.fn);
      if (fn === undefined) throw new Error(`function ${e.fn}() is outside the supported subset in: ${src}`);
      // and() and or() short-circuit, as in the service: what follows the deciding argument is
      // not evaluated (split() of a mapping after eq(pair.key, 'task') is false, for example).
      if (e.fn === 'and' || e.fn === 'or') {
        arity(e.fn, e.args, 2, 10);
        for (const arg of e.args) if (truthy(evaluate(arg, scope, src)) === (e.fn === 'or')) return e.fn === 'or';
        return e.fn === 'and';
      }
      return fn(e.args.map((arg) => evaluate(arg, scope, src)));
    }
  }
}
