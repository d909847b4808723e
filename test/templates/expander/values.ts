/** The data a template works on: what YAML (failsafe schema) and JSON can hold. */
export type Value = null | boolean | number | string | Value[] | ValueMap;
export interface ValueMap {
  [key: string]: Value;
}

export function isMap(v: Value | undefined): v is ValueMap {
  return v !== null && v !== undefined && typeof v === 'object' && !Array.isArray(v);
}

/** Checks, without casts, that parsed YAML or JSON is plain data. */
export function toValue(x: unknown, where: string): Value {
  if (x === null || typeof x === 'string' || typeof x === 'boolean') return x;
  if (typeof x === 'number') {
    if (!Number.isFinite(x)) throw new Error(`${where}: not a finite number`);
    return x;
  }
  if (Array.isArray(x)) return x.map((item: unknown, i) => toValue(item, `${where}[${i}]`));
  if (typeof x === 'object') {
    const out: ValueMap = {};
    for (const [k, v] of Object.entries(x)) out[k] = toValue(v, `${where}.${k}`);
    return out;
  }
  throw new Error(`${where}: ${typeof x} is not plain data`);
}

export function describe(v: Value): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a sequence';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** How the service prints a value inside a string: booleans as True/False, null as nothing. */
export function interpolationString(v: Value, where: string): string {
  if (v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  throw new Error(`${where}: cannot put ${describe(v)} inside a string`);
}

/** Truthiness of the expression language: empty string, 0 and null are false; collections are true. */
export function truthy(v: Value): boolean {
  if (v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.length > 0;
  return true;
}
