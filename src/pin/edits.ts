import type { YAMLMap } from 'yaml';
import { Scalar, isNode, isScalar } from 'yaml';

// Changes to a file as splices of its text at the offsets the parser reported, so every byte not
// in a changed scalar (comments, quoting, indentation, line endings, key order) stays as it was.

export interface Edit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/** A value every YAML style can hold as a plain scalar: what image references and digests are. */
const PLAIN_SAFE = /^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$/;

/**
 * Replaces a scalar's value in the style it was written in. Undefined when the style cannot take
 * the value without changing the layout (block scalars).
 */
export function replaceScalar(text: string, node: Scalar, value: string): Edit | undefined {
  if (!node.range) return undefined;
  const [start, end] = node.range;
  switch (node.type) {
    case Scalar.QUOTE_DOUBLE:
      return { start, end, text: `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` };
    case Scalar.QUOTE_SINGLE:
      return { start, end, text: `'${value.replace(/'/g, "''")}'` };
    case Scalar.PLAIN: {
      const rendered = PLAIN_SAFE.test(value) ? value : `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
      // `key:` with no value: the empty scalar sits right after the colon.
      const space = start === end && text[start - 1] === ':' ? ' ' : '';
      return { start, end, text: `${space}${rendered}` };
    }
    default:
      return undefined;
  }
}

function lineStartOf(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

/**
 * The line ending (`\r\n` or `\n`) of the line that ends at or after `end`, else of the line before
 * it: the ending the added lines take, found without scanning the whole text (once per map).
 */
function lineEndingNear(text: string, end: number): string {
  const from = Math.max(0, end - 1);
  let newline = text.indexOf('\n', from);
  if (newline < 0) newline = text.lastIndexOf('\n', from);
  return newline > 0 && text[newline - 1] === '\r' ? '\r\n' : '\n';
}

/**
 * Adds keys at the end of a map, in its style: a new line at the indentation of its keys for a
 * block map, `, key: value` before the `}` of a flow map. Undefined when the map has no position.
 */
export function appendPairs(
  text: string,
  map: YAMLMap,
  pairs: ReadonlyArray<readonly [string, string]>,
): Edit | undefined {
  const first = map.items[0];
  const last = map.items[map.items.length - 1];
  if (first === undefined || last === undefined || !isScalar(first.key) || !first.key.range) return undefined;
  const lastRange = isNode(last.value) ? last.value.range : isNode(last.key) ? last.key.range : undefined;
  if (lastRange === undefined || lastRange === null) return undefined;
  const rendered = pairs.map(([key, value]) => [key, PLAIN_SAFE.test(value) ? value : JSON.stringify(value)] as const);
  if (map.flow) {
    return {
      start: lastRange[1],
      end: lastRange[1],
      text: rendered.map(([key, value]) => `, ${key}: ${value}`).join(''),
    };
  }
  const keyStart = first.key.range[0];
  const indent = text.slice(lineStartOf(text, keyStart), keyStart).replace(/[^ \t]/g, ' ');
  const eol = lineEndingNear(text, lastRange[1]);
  const valueEnd = lastRange[1];
  let at: number;
  let lead = '';
  if (valueEnd > 0 && text[valueEnd - 1] === '\n') {
    at = valueEnd;
  } else {
    const newline = text.indexOf('\n', valueEnd);
    if (newline < 0) {
      at = text.length;
      lead = eol;
    } else {
      at = newline + 1;
    }
  }
  return {
    start: at,
    end: at,
    text: lead + rendered.map(([key, value]) => `${indent}${key}: ${value}${eol}`).join(''),
  };
}

/** Applies non-overlapping edits; insertions at one offset keep the order they were given in. */
export function applyEdits(text: string, edits: readonly Edit[]): string {
  if (edits.length === 0) return text;
  const ordered = edits
    .map((edit, index) => ({ edit, index }))
    .sort((a, b) => a.edit.start - b.edit.start || a.index - b.index);
  let out = '';
  let at = 0;
  for (const { edit } of ordered) {
    if (edit.start < at) throw new Error(`overlapping edits at offset ${edit.start}`);
    out += text.slice(at, edit.start) + edit.text;
    at = edit.end;
  }
  return out + text.slice(at);
}
