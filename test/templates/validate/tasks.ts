/**
 * What the tests know of our tasks: inputs and output variables, read from
 * src/tasks/<Name>/task.json where it exists, else from test/templates/task-contracts.json
 * (written from the issues for tasks still being built). A contract entry that disagrees
 * with a task.json that exists is an error, so the two cannot drift apart silently.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Value, ValueMap } from '../expander/values';
import { isMap, toValue } from '../expander/values';

export interface TaskInput {
  name: string;
  type: string;
  required: boolean;
  /** pickList option keys; empty for other types. */
  options: string[];
  hasDefault: boolean;
  visibleRule: boolean;
}

export interface TaskDefinition {
  /** `DigestCapture@1` */
  ref: string;
  name: string;
  major: number;
  source: 'task.json' | 'contract';
  inputs: TaskInput[];
  outputVariables: string[];
}

function readJson(path: string): Value {
  const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
  return toValue(parsed, path);
}

function str(v: Value | undefined, where: string): string {
  if (typeof v !== 'string') throw new Error(`${where}: expected a string`);
  return v;
}

function list(v: Value | undefined, where: string): Value[] {
  if (!Array.isArray(v)) throw new Error(`${where}: expected a list`);
  return v;
}

function map(v: Value | undefined, where: string): ValueMap {
  if (!isMap(v)) throw new Error(`${where}: expected an object`);
  return v;
}

export function fromTaskJson(path: string): TaskDefinition {
  const doc = map(readJson(path), path);
  const name = str(doc['name'], `${path} name`);
  const major = map(doc['version'], `${path} version`)['Major'];
  if (typeof major !== 'number') throw new Error(`${path}: version.Major must be a number`);
  const inputs = list(doc['inputs'] ?? [], `${path} inputs`).map((raw, i): TaskInput => {
    const input = map(raw, `${path} inputs[${i}]`);
    const options = input['options'];
    return {
      name: str(input['name'], `${path} inputs[${i}].name`),
      type: str(input['type'], `${path} inputs[${i}].type`),
      required: input['required'] === true,
      options: isMap(options) ? Object.keys(options) : [],
      hasDefault: input['defaultValue'] !== undefined && input['defaultValue'] !== '',
      visibleRule: typeof input['visibleRule'] === 'string',
    };
  });
  const outputVariables = list(doc['outputVariables'] ?? [], `${path} outputVariables`).map((raw, i) =>
    str(map(raw, `${path} outputVariables[${i}]`)['name'], `${path} outputVariables[${i}].name`),
  );
  return { ref: `${name}@${major}`, name, major, source: 'task.json', inputs, outputVariables };
}

export function fromContract(name: string, entry: ValueMap, where: string): TaskDefinition {
  const major = entry['major'];
  if (typeof major !== 'number') throw new Error(`${where}: major must be a number`);
  const inputs = list(entry['inputs'], `${where} inputs`).map((raw, i): TaskInput => {
    const input = map(raw, `${where} inputs[${i}]`);
    const options = input['options'] ?? [];
    return {
      name: str(input['name'], `${where} inputs[${i}].name`),
      type: str(input['type'], `${where} inputs[${i}].type`),
      required: input['required'] === true,
      options: list(options, `${where} inputs[${i}].options`).map((o, j) =>
        str(o, `${where} inputs[${i}].options[${j}]`),
      ),
      // A contract does not say which inputs have defaults; only required ones must be given.
      hasDefault: input['required'] !== true,
      visibleRule: false,
    };
  });
  const outputVariables = list(entry['outputVariables'], `${where} outputVariables`).map((o, i) =>
    str(o, `${where} outputVariables[${i}]`),
  );
  return { ref: `${name}@${major}`, name, major, source: 'contract', inputs, outputVariables };
}

/** Differences between a contract entry and the real task.json, for a person to read. */
export function contractDrift(contract: TaskDefinition, real: TaskDefinition): string[] {
  const out: string[] = [];
  const where = `${contract.name}: task-contracts.json and src/tasks/${contract.name}/task.json`;
  if (contract.major !== real.major)
    out.push(`${where} disagree on the major version (${contract.major} vs ${real.major})`);
  const realInputs = new Map(real.inputs.map((i) => [i.name, i]));
  const contractInputs = new Map(contract.inputs.map((i) => [i.name, i]));
  for (const c of contract.inputs) {
    const r = realInputs.get(c.name);
    if (r === undefined) {
      out.push(`${where}: input ${c.name} is in the contract but not in task.json`);
      continue;
    }
    if (c.type.toLowerCase() !== r.type.toLowerCase())
      out.push(`${where}: input ${c.name} is ${c.type} in the contract, ${r.type} in task.json`);
    if (c.type === 'pickList' && [...c.options].sort().join() !== [...r.options].sort().join())
      out.push(
        `${where}: input ${c.name} options ${c.options.join('|')} in the contract, ${r.options.join('|')} in task.json`,
      );
  }
  for (const r of real.inputs)
    if (!contractInputs.has(r.name)) out.push(`${where}: input ${r.name} is in task.json but not in the contract`);
  const a = [...contract.outputVariables].sort().join();
  const b = [...real.outputVariables].sort().join();
  if (a !== b)
    out.push(
      `${where}: output variables ${contract.outputVariables.join(', ')} in the contract, ${real.outputVariables.join(', ')} in task.json`,
    );
  return out;
}

export interface TaskCatalog {
  tasks: Map<string, TaskDefinition>;
  /** Contract entries that disagree with a task.json that exists. */
  drift: string[];
}

export function loadTasks(root: string, contractsFile: string): TaskCatalog {
  const tasks = new Map<string, TaskDefinition>();
  const tasksDir = join(root, 'src', 'tasks');
  for (const dir of readdirSync(tasksDir)) {
    const path = join(tasksDir, dir, 'task.json');
    if (!existsSync(path)) continue;
    const def = fromTaskJson(path);
    tasks.set(def.ref, def);
  }
  const drift: string[] = [];
  const contracts = map(map(readJson(contractsFile), contractsFile)['tasks'], `${contractsFile} tasks`);
  for (const [name, raw] of Object.entries(contracts)) {
    const contract = fromContract(name, map(raw, `${contractsFile} ${name}`), `${contractsFile} ${name}`);
    // By name, not name@major: a landed task with another major must still be compared.
    const real = [...tasks.values()].find((t) => t.name === name && t.source === 'task.json');
    if (real !== undefined) drift.push(...contractDrift(contract, real));
    else tasks.set(contract.ref, contract);
  }
  return { tasks, drift };
}
