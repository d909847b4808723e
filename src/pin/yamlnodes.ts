import type { Document, Node, Pair, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import { isAlias, isMap, isScalar, isSeq } from 'yaml';

// Reading a parsed YAML document the way the tools that consume it do: aliases resolve to their
// anchors and `<<` merge keys supply the keys a map does not set itself. Nothing here changes a node.

export type ParsedDocument = Document.Parsed;

/** The node an alias points to, or the node itself. */
export function resolve(node: unknown, doc: ParsedDocument): Node | undefined {
  if (isAlias(node)) {
    const target = node.resolve(doc);
    return target === undefined ? undefined : resolve(target, doc);
  }
  if (isScalar(node) || isMap(node) || isSeq(node)) return node;
  return undefined;
}

export function asMap(node: unknown, doc: ParsedDocument): YAMLMap | undefined {
  const resolved = resolve(node, doc);
  return isMap(resolved) ? resolved : undefined;
}

export function asSeq(node: unknown, doc: ParsedDocument): YAMLSeq | undefined {
  const resolved = resolve(node, doc);
  return isSeq(resolved) ? resolved : undefined;
}

/** A scalar whose value is a string (so `tag: 1.20`, a number, is not one). */
export function asStringScalar(node: unknown, doc: ParsedDocument): Scalar<string> | undefined {
  const resolved = resolve(node, doc);
  if (isScalar(resolved) && typeof resolved.value === 'string') return resolved as Scalar<string>;
  return undefined;
}

export function asScalar(node: unknown, doc: ParsedDocument): Scalar | undefined {
  const resolved = resolve(node, doc);
  return isScalar(resolved) ? resolved : undefined;
}

function keyName(pair: Pair): string | undefined {
  const key = pair.key;
  if (isScalar(key) && (typeof key.value === 'string' || typeof key.value === 'number')) return String(key.value);
  return undefined;
}

function isMergeKey(pair: Pair): boolean {
  return isScalar(pair.key) && typeof pair.key.value === 'symbol' && pair.key.source === '<<';
}

/** The pairs of a map as a consumer sees them: its own, then those merged in and not overridden. */
export function entries(
  map: YAMLMap,
  doc: ParsedDocument,
  seen: Set<Node> = new Set(),
): Array<{ key: string; pair: Pair; owner: YAMLMap }> {
  if (seen.has(map)) return [];
  seen.add(map);
  const own: Array<{ key: string; pair: Pair; owner: YAMLMap }> = [];
  const merged: Array<{ key: string; pair: Pair; owner: YAMLMap }> = [];
  for (const item of map.items) {
    if (isMergeKey(item)) {
      const sources = asSeq(item.value, doc)?.items ?? [item.value];
      for (const source of sources) {
        const sourceMap = asMap(source, doc);
        if (sourceMap !== undefined) merged.push(...entries(sourceMap, doc, seen));
      }
      continue;
    }
    const key = keyName(item);
    if (key !== undefined) own.push({ key, pair: item, owner: map });
  }
  const ownKeys = new Set(own.map((entry) => entry.key));
  const result = [...own];
  for (const entry of merged) {
    if (!ownKeys.has(entry.key)) {
      ownKeys.add(entry.key);
      result.push(entry);
    }
  }
  return result;
}

/** The pair for a key, own or merged. */
export function get(map: YAMLMap, key: string, doc: ParsedDocument): { pair: Pair; owner: YAMLMap } | undefined {
  return entries(map, doc).find((entry) => entry.key === key);
}

export function getValue(map: YAMLMap, key: string, doc: ParsedDocument): unknown {
  return get(map, key, doc)?.pair.value;
}

export function getString(map: YAMLMap, key: string, doc: ParsedDocument): string | undefined {
  return asStringScalar(getValue(map, key, doc), doc)?.value;
}
