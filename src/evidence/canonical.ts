// Deterministic JSON: object keys sorted by UTF-16 code units, no insignificant white space,
// strings escaped as JSON.stringify does. The same facts give the same bytes, so the same digest.
// Numbers are whole and safe: a float's text form is the one thing two writers could disagree on.

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

export function canonicalJson(value: JsonValue): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`canonical JSON holds only whole numbers, not ${value}`);
    return String(value);
  }
  if (typeof value === 'string') return JSON.stringify(value);
  if (isJsonArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key]!)}`).join(',')}}`;
}

export function canonicalBytes(value: JsonValue): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(canonicalJson(value), 'utf8'));
}

function isJsonArray(value: JsonValue): value is readonly JsonValue[] {
  return Array.isArray(value);
}
