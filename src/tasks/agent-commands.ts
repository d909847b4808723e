// What a task tells the agent: `##vso[area.action key=value;...]message` lines on standard output,
// written as azure-pipelines-task-lib 5.281.0 writes them (taskcommand.js, internal.js _command,
// task.js setVariable, setSecret, setResult, logIssue, uploadSummary, uploadArtifact), so that the
// agent (Agent.Worker/Command.cs) reads back exactly what was meant. A property with no value is
// left out, as task-lib leaves it out.

/** task-lib's escapedata: what the agent's Command.cs unescapes in a message. */
function escapeData(text: string): string {
  return text.replace(/%/g, '%AZP25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** task-lib's escape: a property value, which also may not hold ] or ;. */
function escapeProperty(text: string): string {
  return escapeData(text).replace(/]/g, '%5D').replace(/;/g, '%3B');
}

export type CommandProperties = Readonly<Record<string, string | undefined>>;

/** One logging command line (without the line end). */
export function commandLine(command: string, properties: CommandProperties, message: string): string {
  const set = Object.entries(properties).filter((entry): entry is [string, string] => Boolean(entry[1]));
  const props = set.length > 0 ? ` ${set.map(([key, value]) => `${key}=${escapeProperty(value)};`).join('')}` : '';
  return `##vso[${command}${props}]${escapeData(message)}`;
}

export type TaskResult = 'Succeeded' | 'SucceededWithIssues' | 'Failed';

export interface AgentCommandOptions {
  /** Where lines go: standard output for a task run. */
  readonly write: (line: string) => void;
  /** The agent's COMMAND_CORRELATION_ID ('' when none), carried on task.issue as task-lib does. */
  readonly correlationId: string;
  /** System.Debug: debug lines are written only then (the agent shows them only then). */
  readonly debug: boolean;
}

export class AgentCommands {
  constructor(private readonly options: AgentCommandOptions) {}

  private command(command: string, properties: CommandProperties, message: string): void {
    this.options.write(commandLine(command, properties, message));
  }

  /** A plain log line. */
  log(message: string): void {
    this.options.write(message);
  }

  debug(message: string): void {
    if (this.options.debug) this.command('task.debug', {}, message);
  }

  /** A warning or error the agent counts for the step (task-lib's warning and error). */
  issue(type: 'warning' | 'error', message: string): void {
    this.command('task.issue', { type, source: 'TaskInternal', correlationId: this.options.correlationId }, message);
  }

  /** An issue the pipeline UI links to a file (task-lib's logIssue). */
  logIssue(type: 'warning' | 'error', message: string, sourcePath?: string, line?: number): void {
    this.command(
      'task.logissue',
      { type, sourcepath: sourcePath, linenumber: line ? String(line) : undefined },
      message,
    );
  }

  setVariable(name: string, value: string, options: { readonly secret: boolean; readonly isOutput: boolean }): void {
    this.command(
      'task.setvariable',
      { variable: name, isOutput: String(options.isOutput), issecret: String(options.secret) },
      value,
    );
  }

  /**
   * A value the agent masks in the log from now on. The agent masks a value only where it appears
   * whole within one line, so a value of several lines is also registered line by line (task-lib
   * refuses such a value and fails the task instead).
   */
  setSecret(value: string): void {
    if (value === '') return;
    this.command('task.setsecret', {}, value);
    if (!/[\r\n]/.test(value)) return;
    for (const line of value.split(/\r?\n|\r/)) if (line.trim() !== '') this.command('task.setsecret', {}, line);
  }

  uploadSummary(path: string): void {
    this.command('task.uploadsummary', {}, path);
  }

  uploadArtifact(artifactName: string, containerFolder: string, path: string): void {
    this.command('artifact.upload', { containerfolder: containerFolder, artifactname: artifactName }, path);
  }

  /** The step's result: a failure or issues message is also an issue, as task-lib's setResult makes it. */
  complete(result: TaskResult, message: string): void {
    this.debug(`task result: ${result}`);
    if (message !== '' && result === 'Failed') this.issue('error', message);
    if (message !== '' && result === 'SucceededWithIssues') this.issue('warning', message);
    this.command('task.complete', { result }, message);
  }
}
