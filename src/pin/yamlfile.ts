import { LineCounter, Scalar, parseAllDocuments, visit } from 'yaml';
import { DigestReleaseError } from '../errors';
import { ParsedDocument } from './yamlnodes';

// One file read as YAML: every document in it, with line numbers for messages. A file holding Go
// template actions (`{{ }}`) outside string values is a Helm template, which DigestPin does not
// evaluate: it is reported and never rewritten.

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
  const first = text.indexOf('{{');
  if (!parsed) return first;
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
