/**
 * Validates an expanded pipeline against the official pipeline schema (a copy in
 * ../schema), extended with our tasks. See ../schema/README.md for what is adjusted.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Value, ValueMap } from '../expander/values';
import { isMap, toValue } from '../expander/values';
import type { TaskDefinition } from './tasks';

const EDITOR_KEYWORDS = ['ignoreCase', 'firstProperty', 'doNotSuggest', 'deprecationMessage', 'aliases'];

/** The service reads every scalar as a string. */
export function asServiceSees(v: Value): Value {
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return v.map(asServiceSees);
  if (isMap(v)) {
    const out: ValueMap = {};
    for (const [k, x] of Object.entries(v)) out[k] = asServiceSees(x);
    return out;
  }
  return v;
}

function widen(node: Value): void {
  if (Array.isArray(node)) {
    node.forEach(widen);
    return;
  }
  if (!isMap(node)) return;
  for (const v of Object.values(node)) widen(v);
  const type = node['type'];
  let alternative: Value | undefined;
  if (type === 'boolean') alternative = { $ref: '#/definitions/boolean' };
  if (type === 'integer') alternative = { type: 'string', pattern: '^[0-9]+$' };
  if (alternative === undefined) return;
  delete node['type'];
  const extra: ValueMap = { anyOf: [alternative] };
  const allOf = node['allOf'];
  node['allOf'] = Array.isArray(allOf) ? [...allOf, extra] : [extra];
}

function inputSchema(input: TaskDefinition['inputs'][number]): ValueMap {
  if (input.type === 'boolean') return { $ref: '#/definitions/boolean' };
  if (input.type === 'pickList' && input.options.length > 0) return { enum: input.options };
  return { type: 'string' };
}

function taskSchema(task: TaskDefinition): ValueMap {
  const properties: ValueMap = {};
  for (const input of task.inputs) properties[input.name] = inputSchema(input);
  const required = task.inputs.filter((i) => i.required && !i.hasDefault && !i.visibleRule).map((i) => i.name);
  return {
    properties: {
      task: { pattern: `^${task.ref}$` },
      inputs: { properties, additionalProperties: false, required },
    },
    required: required.length > 0 ? ['task', 'inputs'] : ['task'],
  };
}

function child(node: Value | undefined, key: string, where: string): ValueMap {
  if (!isMap(node)) throw new Error(`service schema: ${where} is not an object`);
  const v = node[key];
  if (!isMap(v)) throw new Error(`service schema: ${where}.${key} is not an object`);
  return v;
}

function anyOfList(node: ValueMap, where: string): Value[] {
  const v = node['anyOf'];
  if (!Array.isArray(v)) throw new Error(`service schema: ${where}.anyOf is not a list`);
  return v;
}

export class PipelineSchema {
  private readonly validate: ValidateFunction;

  constructor(schemaFile: string, tasks: Iterable<TaskDefinition>) {
    const parsed: unknown = JSON.parse(readFileSync(schemaFile, 'utf8'));
    const schema = toValue(parsed, schemaFile);
    if (!isMap(schema)) throw new Error(`${schemaFile}: not a schema object`);
    widen(schema);
    const taskDef = child(child(schema, 'definitions', 'root'), 'task', 'definitions');
    // Every step takes `target` (Microsoft's steps.task reference: "All steps and tasks support
    // ... target"; the security page restricts a task's logging commands with it); the editor
    // schema lists it for script steps only.
    child(taskDef, 'properties', 'task')['target'] = { $ref: '#/definitions/stepTarget' };
    const taskName = child(child(taskDef, 'properties', 'task'), 'task', 'task.properties');
    const names = anyOfList(taskName, 'task.properties.task');
    const bodies = anyOfList(taskDef, 'task');
    for (const task of tasks) {
      names.push({ enum: [task.ref] });
      bodies.push(taskSchema(task));
    }
    // The schema's patterns are written for non-unicode regular expressions (\: and \/ escapes).
    const ajv = new Ajv({ allErrors: false, strict: false, unicodeRegExp: false });
    for (const keyword of EDITOR_KEYWORDS) ajv.addKeyword({ keyword });
    this.validate = ajv.compile(schema);
  }

  /** Problems as lines for a person; empty when the pipeline is valid. */
  check(pipeline: Value): string[] {
    if (this.validate(asServiceSees(pipeline))) return [];
    const errors: ErrorObject[] = this.validate.errors ?? [];
    // anyOf reports every branch; the deepest paths are where the real mistake is.
    const depth = (e: ErrorObject): number => e.instancePath.split('/').length;
    const deepest = Math.max(...errors.map(depth));
    return (
      errors
        .filter((e) => depth(e) >= deepest - 1)
        // Each non-matching task branch says its name pattern failed: noise, not the mistake.
        .filter((e) => !(e.keyword === 'pattern' && e.instancePath.endsWith('/task')))
        .map((e) => `${e.instancePath || '/'} ${e.message ?? 'invalid'} ${JSON.stringify(e.params)}`)
        .filter((line, i, all) => all.indexOf(line) === i)
        .slice(0, 20)
    );
  }
}

export const SCHEMA_FILE = join(
  __dirname,
  '..',
  '..',
  '..',
  '..',
  'test',
  'templates',
  'schema',
  'service-schema.json',
);
