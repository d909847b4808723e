import type { Scalar, YAMLMap } from 'yaml';
import { LineCounter, isScalar, parseAllDocuments, visit } from 'yaml';
import { DigestReleaseError } from '../errors';
import type { ParsedDocument } from './yamlnodes';

// One file read as YAML: every document in it, with line numbers for messages. A file holding Go
// template actions (`{{ }}`) outside string values and comments is a Helm template, which
// DigestPin does not evaluate: it is reported and never rewritten. A file that does not parse and
// has no such action is invalid YAML, never a template: `{{` in a comment does not excuse it.
// Everything here is linear in the size of the file: the parser's own duplicate-key check compares
// each key with every earlier key of its map (a values file with 100,000 keys in one map took
// minutes), so it is off and the same check is made here with a set per map.

export interface YamlFile {
  readonly kind: 'yaml';
  readonly text: string;
  readonly documents: readonly ParsedDocument[];
  readonly lines: LineCounter;
}

export interface TemplateFile {
  readonly kind: 'template';
  readonly text: string;
  /** 1-based line of the first template action outside a string. */
  readonly line: number;
}

export function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

function invalidYaml(display: string, line: number, message: string): DigestReleaseError {
  return new DigestReleaseError(
    'YAML_PARSE',
    `${display}:${line} is not valid YAML: ${message}. Fix the file, or leave it out of the files input.`,
  );
}

export function parseYamlFile(display: string, text: string): YamlFile | TemplateFile {
  const lines = new LineCounter();
  const documents = parseAllDocuments(text, {
    lineCounter: lines,
    merge: true,
    prettyErrors: false,
    uniqueKeys: false,
  });
  const docs: ParsedDocument[] = Array.isArray(documents) ? documents : [];
  const firstError = docs.flatMap((doc) => doc.errors)[0];
  const template = text.includes('{{') ? templateActionOutsideStrings(text, docs, firstError === undefined) : undefined;
  if (template !== undefined) return { kind: 'template', text, line: lineOf(text, template) };
  if (firstError !== undefined) {
    const line = lines.linePos(firstError.pos[0]).line;
    throw invalidYaml(display, line, firstError.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''));
  }
  const duplicate = firstDuplicateKey(docs);
  if (duplicate !== undefined) {
    const [key, first] = duplicate;
    const what = typeof key.value === 'string' ? `"${key.value}"` : String(key.source ?? key.value);
    throw invalidYaml(
      display,
      lines.linePos(key.range![0]).line,
      `Map keys must be unique; the key ${what} is already set at line ${lines.linePos(first.range![0]).line}`,
    );
  }
  return { kind: 'yaml', text, documents: docs, lines };
}

/**
 * The first key (and the earlier key it repeats) that a map sets twice, as the parser's own check
 * decides: scalar keys with equal values (`a` and `"a"`, `~` and `null`), merge keys (`<<`) and
 * NaN aside.
 */
function firstDuplicateKey(docs: readonly ParsedDocument[]): [Scalar, Scalar] | undefined {
  let found: [Scalar, Scalar] | undefined;
  for (const doc of docs) {
    visit(doc, {
      Map(_key, map: YAMLMap) {
        const seen = new Map<unknown, Scalar>();
        for (const { key } of map.items) {
          if (!isScalar(key) || !key.range || typeof key.value === 'symbol' || Number.isNaN(key.value)) continue;
          const first = seen.get(key.value);
          if (first === undefined) {
            seen.set(key.value, key);
          } else if (found === undefined || key.range[0] < found[0].range![0]) {
            found = [key, first];
          }
        }
      },
    });
  }
  return found;
}

/** Offset of the first `{{` that is neither inside a string value nor in a comment. */
function templateActionOutsideStrings(
  text: string,
  docs: readonly ParsedDocument[],
  parsed: boolean,
): number | undefined {
  if (!parsed) return templateActionInUnparsed(text);
  const ranges: Array<[number, number]> = [];
  for (const doc of docs) {
    visit(doc, {
      Scalar(_key, node: Scalar) {
        if (node.range) ranges.push([node.range[0], node.range[1]]);
      },
    });
  }
  // Scalars never overlap: sorted by start, a binary search finds the one that may hold an offset.
  ranges.sort((a, b) => a[0] - b[0]);
  const inString = (offset: number): boolean => {
    let low = 0;
    let high = ranges.length - 1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      const [start, end] = ranges[mid]!;
      if (offset < start) high = mid - 1;
      else if (offset >= end) low = mid + 1;
      else return true;
    }
    return false;
  };
  // Where the comment of a line starts (the first `#` at line start or after a blank that is not
  // in a string), worked out once per line.
  const comments = new Map<number, number>();
  const commentStart = (lineStart: number): number => {
    let start = comments.get(lineStart);
    if (start === undefined) {
      start = Infinity;
      for (let i = lineStart; i < text.length && text[i] !== '\n'; i++) {
        if (text[i] === '#' && (i === lineStart || /[ \t]/.test(text[i - 1]!)) && !inString(i)) {
          start = i;
          break;
        }
      }
      comments.set(lineStart, start);
    }
    return start;
  };
  let lineStart = 0;
  let nextNewline = text.indexOf('\n');
  for (let at = text.indexOf('{{'); at >= 0; at = text.indexOf('{{', at + 2)) {
    if (inString(at)) continue;
    while (nextNewline >= 0 && nextNewline < at) {
      lineStart = nextNewline + 1;
      nextNewline = text.indexOf('\n', lineStart);
    }
    if (commentStart(lineStart) < at) continue;
    return at;
  }
  return undefined;
}

/**
 * For a file that did not parse, so has no nodes to tell strings from the rest: offset of the first
 * `{{ ... }}` outside comments and quoted strings, found line by line, or undefined.
 */
function templateActionInUnparsed(text: string): number | undefined {
  const masked = text.split('\n').map(maskCommentsAndQuotes).join('\n');
  // The first `{{` closed by a later `}}`: when the first `{{` is not closed, no later one is.
  const open = masked.indexOf('{{');
  return open >= 0 && masked.indexOf('}}', open + 2) >= 0 ? open : undefined;
}

/**
 * One line with its comment and the insides of its quoted strings blanked out (same length). A
 * quote opens a string only where a YAML scalar can start (line start, after a space, `[`, `{` or
 * `,`), so the apostrophe in `it's` does not; `#` starts a comment at line start or after a space.
 */
function maskCommentsAndQuotes(line: string): string {
  let out = '';
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === '"') {
      if (c === '\\') {
        out += '  ';
        i++;
      } else if (c === '"') {
        out += c;
        quote = undefined;
      } else {
        out += ' ';
      }
      continue;
    }
    if (quote === "'") {
      if (c === "'" && line[i + 1] === "'") {
        out += '  ';
        i++;
      } else if (c === "'") {
        out += c;
        quote = undefined;
      } else {
        out += ' ';
      }
      continue;
    }
    const startsScalar = i === 0 || /[ \t[{,]/.test(line[i - 1]!);
    if (c === '#' && (i === 0 || /[ \t]/.test(line[i - 1]!))) return out + ' '.repeat(line.length - i);
    if ((c === '"' || c === "'") && startsScalar) quote = c;
    out += c;
  }
  return out.slice(0, line.length);
}
