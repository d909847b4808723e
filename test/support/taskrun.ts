import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtVsix } from './paths';
import { extractZip } from './vsix';

// Runs a task the way the agent does: the bundled index.js from the built .vsix, in a child
// process, with INPUT_* and ENDPOINT_* variables, and reads back the ##vso[...] lines it prints.

export interface Endpoint {
  readonly url?: string;
  readonly scheme: string;
  readonly parameters: Record<string, string>;
  readonly data?: Record<string, string>;
}

export interface TaskRunOptions {
  readonly inputs?: Record<string, string>;
  readonly endpoints?: Record<string, Endpoint>;
  /** Extra environment (NODE_EXTRA_CA_CERTS, DOCKER_CONFIG, variables as the agent maps them). */
  readonly env?: Record<string, string>;
  readonly timeoutMs?: number;
}

export interface VsoCommand {
  readonly command: string;
  readonly properties: Record<string, string>;
  readonly message: string;
}

export interface TaskRun {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly commands: readonly VsoCommand[];
  /** Output variables (isOutput=true) by name. */
  readonly outputs: Readonly<Record<string, string>>;
  readonly result: string | undefined;
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

function unescapeVso(value: string): string {
  return value.replace(/%3B/gi, ';').replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%5D/gi, ']').replace(/%AZP25/gi, '%').replace(/%25/g, '%');
}

export function parseVsoLines(stdout: string): VsoCommand[] {
  const commands: VsoCommand[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    const match = /^##vso\[([a-z]+\.[a-z]+)([^\]]*)\](.*)$/i.exec(line.trim());
    if (!match) continue;
    const properties: Record<string, string> = {};
    for (const pair of match[2]!.trim().split(';')) {
      const eq = pair.indexOf('=');
      if (eq > 0) properties[pair.slice(0, eq).trim()] = unescapeVso(pair.slice(eq + 1));
    }
    commands.push({ command: match[1]!.toLowerCase(), properties, message: unescapeVso(match[3]!) });
  }
  return commands;
}

/** The environment a bare agent gives a task: PATH and HOME, nothing of the test process. */
function baseEnv(tempDir: string): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? tempDir,
    AGENT_TEMPDIRECTORY: tempDir,
    AGENT_VERSION: '4.258.1',
    SYSTEM_DEFAULTWORKINGDIRECTORY: tempDir,
  };
  return env;
}

export async function runTask(task: string, options: TaskRunOptions = {}): Promise<TaskRun> {
  const tempDir = mkdtempSync(join(tmpdir(), 'digest-release-agent-'));
  const env = { ...baseEnv(tempDir), ...options.env };
  for (const [name, value] of Object.entries(options.inputs ?? {})) env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value;
  for (const [id, endpoint] of Object.entries(options.endpoints ?? {})) {
    if (endpoint.url !== undefined) env[`ENDPOINT_URL_${id}`] = endpoint.url;
    env[`ENDPOINT_AUTH_${id}`] = JSON.stringify({ scheme: endpoint.scheme, parameters: endpoint.parameters });
    env[`ENDPOINT_AUTH_SCHEME_${id}`] = endpoint.scheme;
    for (const [key, value] of Object.entries(endpoint.parameters)) env[`ENDPOINT_AUTH_PARAMETER_${id}_${key.toUpperCase()}`] = value;
    for (const [key, value] of Object.entries(endpoint.data ?? {})) env[`ENDPOINT_DATA_${id}_${key.toUpperCase()}`] = value;
  }

  const child = spawn(process.execPath, [taskEntry(task)], { env, cwd: tempDir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const timeout = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timeout);

  const commands = parseVsoLines(stdout);
  const outputs: Record<string, string> = {};
  const summaries: string[] = [];
  const secrets: string[] = [];
  const errors: string[] = [];
  const warnings: string[] = [];
  let result: string | undefined;
  let message = '';
  for (const cmd of commands) {
    if (cmd.command === 'task.setvariable' && cmd.properties.isOutput === 'true') outputs[cmd.properties.variable!] = cmd.message;
    if (cmd.command === 'task.uploadsummary') summaries.push(readFileSync(cmd.message, 'utf8'));
    if (cmd.command === 'task.setsecret') secrets.push(cmd.message);
    if (cmd.command === 'task.issue' && cmd.properties.type === 'error') errors.push(cmd.message);
    if (cmd.command === 'task.issue' && cmd.properties.type === 'warning') warnings.push(cmd.message);
    if (cmd.command === 'task.logissue' && cmd.properties.type === 'warning') warnings.push(cmd.message);
    if (cmd.command === 'task.complete') {
      result = cmd.properties.result;
      message = cmd.message;
    }
  }
  rmSync(tempDir, { recursive: true, force: true });
  return { exitCode, stdout, stderr, commands, outputs, result, message, errors, warnings, summaries, secrets };
}
