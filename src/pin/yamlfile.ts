import { LineCounter, Scalar, parseAllDocuments, visit } from 'yaml';
import { DigestReleaseError } from '../errors';
import { ParsedDocument } from './yamlnodes';

// One file read as YAML: every document in it, with line numbers for messages. A file holding Go
// template actions (`{{ }}`) outside string values and comments is a Helm template, which
// DigestPin does not evaluate: it is reported and never rewritten. A file that does not parse and
// has no such action is invalid YAML, never a template: `{{` in a comment does not excuse it.

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

export function parseYamlFile(display: string, text: string): YamlFile | TemplateFile {
  const lines = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter: lines, merge: true, prettyErrors: false });
  const docs: ParsedDocument[] = Array.isArray(documents) ? documents : [];
  const firstError = docs.flatMap((doc) => doc.errors)[0];
  const template = text.includes('{{') ? templateActionOutsideStrings(text, docs, firstError === undefined) : undefined;
  if (template !== undefined) return { kind: 'template', text, line: lineOf(text, template) };
  if (firstError !== undefined) {
    const line = lines.linePos(firstError.pos[0]).line;
    const message = firstError.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new DigestReleaseError('YAML_PARSE', `${display}:${line} is not valid YAML: ${message}. Fix the file, or leave it out of the files input.`);
  }
  return { kind: 'yaml', text, documents: docs, lines };
}

/** Offset of the first `{{` that is neither inside a string value nor in a comment. */
function templateActionOutsideStrings(text: string, docs: readonly ParsedDocument[], parsed: boolean): number | undefined {
  if (!parsed) return templateActionInUnparsed(text);
  const first = text.indexOf('{{');
  const ranges: Array<[number, number]> = [];
  for (const doc of docs) {
    visit(doc, {
      Scalar(_key, node: Scalar) {
        if (node.range) ranges.push([node.range[0], node.range[1]]);
      },
    });
  }
  const inString = (offset: number) => ranges.some(([start, end]) => offset >= start && offset < end);
  for (let at = first; at >= 0; at = text.indexOf('{{', at + 2)) {
    if (inString(at)) continue;
    const lineStart = text.lastIndexOf('\n', at - 1) + 1;
    let comment = false;
    for (let i = text.indexOf('#', lineStart); i >= 0 && i < at; i = text.indexOf('#', i + 1)) {
      if ((i === lineStart || /[ \t]/.test(text[i - 1]!)) && !inString(i)) {
        comment = true;
        break;
      }
    }
    if (!comment) return at;
  }
  return undefined;
}

/**
 * For a file that did not parse, so has no nodes to tell strings from the rest: offset of the first
 * `{{ ... }}` outside comments and quoted strings, found line by line, or undefined.
 */
function templateActionInUnparsed(text: string): number | undefined {
  const masked = text
    .split('\n')
    .map(maskCommentsAndQuotes)
    .join('\n');
  const action = /\{\{[\s\S]*?\}\}/.exec(masked);
  return action?.index;
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
