import { existsSync, statSync } from 'node:fs';
import type { EndpointReader } from '../../src/connection/endpoint';
import type { DigestReleaseError, ErrorCode } from '../../src/errors';
import { isDigestReleaseError, messageOf } from '../../src/errors';
import type { Network } from '../../src/http/network';
import { DIRECT_NETWORK } from '../../src/http/network';
import type { TaskContext } from '../../src/tasks/context';
import { typedInputs } from '../../src/tasks/context';
import { readTaskJson } from './sources';

// A TaskContext for the fast task tests: a task's operation runs in the test's own process, with
// no agent and no .vsix. It holds the inputs, variables and service connections a test gives, and
// records what the operation hands the agent: output variables, secrets, log lines, warnings,
// issues, summaries and artifacts. Inputs are read through the agent's own typedInputs
// (src/tasks/context.ts); given the task, its task.json defaults apply as the agent applies them
// and an input it does not declare is refused as the test's typo. What the agent does beyond that
// (macros, filePath inputs rooted at the repository, the log masked) is the packaged suites' part
// (test/packaged/), run against the .vsix through the agent model.

export interface FakeEndpoint {
  readonly url?: string;
  readonly scheme?: string;
  /** Authorization parameters (username, password, serviceprincipalid ...). */
  readonly parameters?: Readonly<Record<string, string>>;
  /** Data parameters (subscriptionId, environment ...). */
  readonly data?: Readonly<Record<string, string>>;
}

export interface FakeContextOptions {
  /** The task whose task.json declares the inputs (DigestCapture ...). */
  readonly task?: string;
  readonly inputs?: Readonly<Record<string, string>>;
  readonly variables?: Readonly<Record<string, string>>;
  /** Service connections by id. */
  readonly endpoints?: Readonly<Record<string, FakeEndpoint>>;
  /** The network every client takes; direct (Node's own trust, which npm test extends to the run's CA) by default. */
  readonly network?: Network;
}

export interface RecordedIssue {
  readonly type: 'error' | 'warning';
  readonly message: string;
  readonly file?: string;
  readonly line?: number;
}

interface TaskJsonInput {
  readonly name: string;
  readonly defaultValue?: string;
  readonly aliases?: readonly string[];
}

export class FakeContext implements TaskContext {
  readonly outputs: Record<string, string> = {};
  readonly secrets: string[] = [];
  /** context.info lines, in order. */
  readonly log: string[] = [];
  readonly warnings: string[] = [];
  readonly issues: RecordedIssue[] = [];
  readonly summaries: { readonly title: string; readonly markdown: string }[] = [];
  readonly artifacts: { readonly name: string; readonly folder: string; readonly path: string }[] = [];
  /** Every read of a service connection, as `<id> <what>`: what an operation asked of the connections, and how often. */
  readonly endpointReads: string[] = [];
  readonly network: Network;
  readonly endpoints: EndpointReader;

  readonly input: TaskContext['input'];
  readonly filePathInput: TaskContext['filePathInput'];
  readonly requiredInput: TaskContext['requiredInput'];
  readonly booleanInput: TaskContext['booleanInput'];
  readonly choiceInput: TaskContext['choiceInput'];
  readonly wholeNumberInput: TaskContext['wholeNumberInput'];

  private readonly variables: Readonly<Record<string, string>>;

  constructor(options: FakeContextOptions = {}) {
    const inputs = inputsFor(options.task, options.inputs ?? {});
    this.variables = options.variables ?? {};
    this.network = options.network ?? DIRECT_NETWORK;
    const readers = typedInputs(
      (name) => inputs.get(name.toLowerCase()),
      (name) => this.variable(name),
    );
    this.input = readers.input;
    this.filePathInput = readers.filePathInput;
    this.requiredInput = readers.requiredInput;
    this.booleanInput = readers.booleanInput;
    this.choiceInput = readers.choiceInput;
    this.wholeNumberInput = readers.wholeNumberInput;
    const endpoints = options.endpoints ?? {};
    const read = (id: string, what: string): FakeEndpoint | undefined => {
      this.endpointReads.push(`${id} ${what}`);
      return endpoints[id];
    };
    this.endpoints = {
      url: (id) => read(id, 'url')?.url,
      authorizationScheme: (id) => read(id, 'scheme')?.scheme,
      authorizationParameter: (id, key) => parameter(read(id, key)?.parameters, key),
      dataParameter: (id, key) => parameter(read(id, key)?.data, key),
    };
  }

  variable(name: string): string | undefined {
    const key = Object.keys(this.variables).find((given) => given.toLowerCase() === name.toLowerCase());
    const value = key === undefined ? undefined : this.variables[key];
    return value === '' ? undefined : value;
  }

  setOutput(name: string, value: string): void {
    this.outputs[name] = value;
  }

  setSecret(value: string): void {
    if (value !== '') this.secrets.push(value);
  }

  info(message: string): void {
    this.log.push(message);
  }

  warning(message: string): void {
    this.warnings.push(message);
  }

  uploadSummary(title: string, markdown: string): void {
    this.summaries.push({ title, markdown });
  }

  issue(type: 'error' | 'warning', message: string, file?: string, line?: number): void {
    this.issues.push({
      type,
      message,
      ...(file !== undefined ? { file } : {}),
      ...(line !== undefined ? { line } : {}),
    });
  }

  /**
   * Literal paths only: each include pattern that names an existing file, less the `!` ones. Glob
   * matching is task-lib's, which the packaged DigestPin suite runs; a wildcard here is refused.
   */
  findMatch(_root: string, patterns: readonly string[]): string[] {
    const wild = patterns.find((pattern) => /[*?[{]/.test(pattern));
    if (wild !== undefined)
      throw new Error(
        `the fake context matches literal paths only, not "${wild}": test globs through the packaged task (test/packaged/pin.test.ts)`,
      );
    const excluded = new Set(patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1)));
    return patterns.filter((p) => !p.startsWith('!') && !excluded.has(p) && existsSync(p) && statSync(p).isFile());
  }

  uploadArtifact(artifactName: string, containerFolder: string, path: string): void {
    this.artifacts.push({ name: artifactName, folder: containerFolder, path });
  }

  /** Everything the operation wrote to the log, warnings and summaries included: where a secret must never appear. */
  visibleText(): string {
    return [
      ...this.log,
      ...this.warnings,
      ...this.issues.map((i) => i.message),
      ...this.summaries.map((s) => s.markdown),
      ...Object.values(this.outputs),
    ].join('\n');
  }

  /** The one summary uploaded under `title`. */
  summary(title: string): string {
    const found = this.summaries.filter((s) => s.title === title);
    if (found.length !== 1) throw new Error(`${found.length} summaries titled ${title} were uploaded`);
    return found[0]!.markdown;
  }
}

function parameter(values: Readonly<Record<string, string>> | undefined, key: string): string | undefined {
  const found = Object.entries(values ?? {}).find(([name]) => name.toLowerCase() === key.toLowerCase());
  return found === undefined || found[1] === '' ? undefined : found[1];
}

/** The inputs by lower-case name: task.json's defaults, then the test's (by name or alias). */
function inputsFor(task: string | undefined, given: Readonly<Record<string, string>>): Map<string, string> {
  const inputs = new Map<string, string>();
  if (task === undefined) {
    for (const [name, value] of Object.entries(given)) inputs.set(name.toLowerCase(), value);
    return inputs;
  }
  const declared = readTaskJson<{ inputs?: readonly TaskJsonInput[] }>(task).inputs ?? [];
  for (const input of declared) inputs.set(input.name.toLowerCase(), input.defaultValue ?? '');
  for (const [name, value] of Object.entries(given)) {
    const input = declared.find((d) =>
      [d.name, ...(d.aliases ?? [])].some((n) => n.toLowerCase() === name.toLowerCase()),
    );
    if (input === undefined)
      throw new Error(`the test gives ${task} the input ${name}, which its task.json does not declare`);
    inputs.set(input.name.toLowerCase(), value);
  }
  return inputs;
}

/** An operation's run on a fake context: what it returned, or the error it failed with. */
export interface FakeRun {
  readonly context: FakeContext;
  readonly message?: string;
  readonly error?: unknown;
}

export async function runOperation(
  operation: (context: TaskContext) => Promise<string>,
  options: FakeContextOptions,
): Promise<FakeRun> {
  const context = new FakeContext(options);
  try {
    return { context, message: await operation(context) };
  } catch (error) {
    return { context, error };
  }
}

/** The run failed with a DigestReleaseError of `code` whose message matches every pattern. */
export function failedWith(run: FakeRun, code: ErrorCode, ...patterns: RegExp[]): DigestReleaseError {
  if (!isDigestReleaseError(run.error)) {
    throw new Error(
      run.error === undefined
        ? `the operation succeeded (${run.message ?? ''}); expected ${code}`
        : `the operation failed with ${messageOf(run.error)}; expected ${code}`,
    );
  }
  if (run.error.code !== code)
    throw new Error(`the operation failed with ${run.error.code}, expected ${code}: ${run.error.message}`);
  for (const pattern of patterns)
    if (!pattern.test(run.error.message))
      throw new Error(`the message does not match ${pattern}: ${run.error.message}`);
  return run.error;
}

/** The run succeeded; its message. */
export function succeeded(run: FakeRun): string {
  if (run.error !== undefined) throw new Error(`the operation failed: ${messageOf(run.error)}`);
  return run.message!;
}

/** What a task must refuse: the test's title, the inputs, the message, and the code when not INVALID_INPUT. */
export type Refusal = readonly [
  what: string,
  inputs: Readonly<Record<string, string>>,
  message: RegExp,
  code?: ErrorCode,
];

/** One test per refusal: the operation fails with that code and message, and sets no output. */
export function itRefuses(
  run: (inputs: Record<string, string>) => Promise<FakeRun>,
  refusals: readonly Refusal[],
): void {
  for (const [what, inputs, message, code] of refusals) {
    it(what, async () => {
      const result = await run({ ...inputs });
      failedWith(result, code ?? 'INVALID_INPUT', message);
      if (Object.keys(result.context.outputs).length > 0)
        throw new Error(`a refused run set outputs: ${JSON.stringify(result.context.outputs)}`);
    });
  }
}
