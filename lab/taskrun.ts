import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtVsix } from './paths';
import { extractZip } from './vsix';

// What a task step printed, read as the agent reads it (Handlers/NodeHandler.OnDataReceived): both
// stdout and stderr line by line, `##vso[...]` commands taken out, every other line masked with the
// secrets known at that moment. The agent model (agent.ts) starts the process; this reads it.

export interface VsoCommand {
  readonly command: string;
  readonly properties: Record<string, string>;
  readonly message: string;
}

export interface TaskRun {
  readonly exitCode: number | null;
  /** What the process wrote, unmasked: tests assert that no secret is there at all. */
  readonly stdout: string;
  readonly stderr: string;
  /** The step's log as the agent shows it: command lines consumed, secrets masked as `***`. */
  readonly log: string;
  readonly commands: readonly VsoCommand[];
  /** Output variables this step set, by name; later steps read them as `<step>.<NAME>`. */
  readonly outputs: Readonly<Record<string, string>>;
  /** task.json outputVariables, which the agent treats as outputs whatever the command says. */
  readonly declaredOutputs: readonly string[];
  /** The step's result as the agent decides it: the worst reported result, Failed on a non-zero exit. */
  readonly result: string;
  readonly message: string;
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
  /** Contents of the files the task uploaded as build summaries. */
  readonly summaries: readonly string[];
  /** Values the task asked the agent to mask. */
  readonly secrets: readonly string[];
}

let extracted: string | undefined;

/** The folder the .vsix was extracted to, once per test process. */
export function extensionRoot(): string {
  if (extracted === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'digest-release-vsix-'));
    extractZip(builtVsix(), dir);
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    extracted = dir;
  }
  return extracted;
}

export function taskEntry(task: string): string {
  const entry = join(extensionRoot(), 'tasks', task, 'index.js');
  if (!existsSync(entry)) throw new Error(`the .vsix has no tasks/${task}/index.js`);
  return entry;
}

/** Agent.Worker/Command: the escapes of a `##vso` property or message, undone. */
function unescapeVso(value: string): string {
  return value
    .replace(/%3B/gi, ';')
    .replace(/%0D/gi, '\r')
    .replace(/%0A/gi, '\n')
    .replace(/%5D/gi, ']')
    .replace(/%AZP25/gi, '%')
    .replace(/%25/g, '%');
}

function parseVsoLine(line: string): VsoCommand | undefined {
  const match = /^##vso\[([a-z]+\.[a-z]+)([^\]]*)\](.*)$/i.exec(line.trim());
  if (!match) return undefined;
  const properties: Record<string, string> = {};
  for (const pair of match[2]!.trim().split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0) properties[pair.slice(0, eq).trim()] = unescapeVso(pair.slice(eq + 1));
  }
  return { command: match[1]!.toLowerCase(), properties, message: unescapeVso(match[3]!) };
}

export function parseVsoLines(output: string): VsoCommand[] {
  return output.split(/\r?\n/).flatMap((line) => parseVsoLine(line) ?? []);
}

function mask(line: string, secrets: readonly string[]): string {
  let out = line;
  for (const secret of secrets) if (secret !== '') out = out.split(secret).join('***');
  return out;
}

const RESULT_RANK: Record<string, number> = {
  Succeeded: 0,
  SucceededWithIssues: 1,
  Failed: 2,
  Canceled: 3,
  Skipped: 3,
  Abandoned: 3,
};

/** Util/TaskResultUtil.MergeTaskResults (worst wins) and StepsRunner (a non-zero exit fails the step). */
export function stepResult(reported: readonly string[], exitCode: number | null): string {
  let result = 'Succeeded';
  for (const one of reported) {
    // An unknown result is a command that fails, and a failed command fails the step.
    const rank = RESULT_RANK[one];
    if (rank === undefined) return 'Failed';
    if (rank > RESULT_RANK[result]!) result = one;
  }
  return exitCode === 0 ? result : 'Failed';
}

export interface FinishedProcess {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** What the agent masks from the start: secret variables and endpoint auth parameters. */
  readonly secrets: readonly string[];
  readonly outputVariables: readonly string[];
}

export function readTaskRun(done: FinishedProcess): TaskRun {
  const masked: string[] = [...done.secrets];
  const commands: VsoCommand[] = [];
  const logLines: string[] = [];
  // stdout and stderr arrive interleaved at the agent; their order between the two is not kept.
  for (const line of `${done.stdout}\n${done.stderr}`.split(/\r?\n/)) {
    const command = parseVsoLine(line);
    if (!command) {
      logLines.push(mask(line, masked));
      continue;
    }
    commands.push(command);
    if (command.command === 'task.setsecret' && command.message !== '') masked.push(command.message);
    if (
      command.command === 'task.setvariable' &&
      /^true$/i.test(command.properties.issecret ?? '') &&
      command.message !== ''
    )
      masked.push(command.message);
  }

  const outputs: Record<string, string> = {};
  const summaries: string[] = [];
  const secrets: string[] = [];
  const errors: string[] = [];
  const warnings: string[] = [];
  const reported: string[] = [];
  let message = '';
  const declared = done.outputVariables.map((name) => name.toLowerCase());
  for (const cmd of commands) {
    if (cmd.command === 'task.setvariable') {
      const name = cmd.properties.variable ?? '';
      if (
        /^true$/i.test(cmd.properties.isOutput ?? cmd.properties.isoutput ?? '') ||
        declared.includes(name.toLowerCase())
      )
        outputs[name] = cmd.message;
    }
    if (cmd.command === 'task.uploadsummary') summaries.push(readFileSync(cmd.message, 'utf8'));
    if (cmd.command === 'task.setsecret') secrets.push(cmd.message);
    if ((cmd.command === 'task.issue' || cmd.command === 'task.logissue') && cmd.properties.type === 'error')
      errors.push(cmd.message);
    if ((cmd.command === 'task.issue' || cmd.command === 'task.logissue') && cmd.properties.type === 'warning')
      warnings.push(cmd.message);
    if (cmd.command === 'task.complete') {
      reported.push(cmd.properties.result ?? '');
      message = cmd.message;
    }
  }
  return {
    exitCode: done.exitCode,
    stdout: done.stdout,
    stderr: done.stderr,
    log: logLines.join('\n'),
    commands,
    outputs,
    declaredOutputs: done.outputVariables,
    result: stepResult(reported, done.exitCode),
    message,
    errors,
    warnings,
    summaries,
    secrets,
  };
}
