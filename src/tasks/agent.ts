import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DigestReleaseError, messageOf } from '../errors';
import { Network } from '../http/network';
import { AGENT_PROXY_HELP, STALL_VARIABLE, describeNetwork, parseNetworkSettings } from '../http/settings';
import { proxyAuthorization } from '../http/tunnel';
import { isRecord } from '../json';
import { AgentCommands } from './agent-commands';
import { AgentEnvironment } from './agent-environment';
import type { TaskContext } from './context';
import { typedInputs } from './context';

// The one place that talks to the Azure Pipelines agent: inputs, output variables, secrets, the
// build summary and the task result, as the TaskContext (context.ts) every operation receives.
// Operations never see how. What the agent hands a task is read from the environment
// (agent-environment.ts) and what the task tells it is written as logging commands
// (agent-commands.ts), both as azure-pipelines-task-lib does, without loading the library: loading
// it was about a third of every task's start-up. The one thing taken from it, glob matching, is
// handed in by the task that needs it (find-match.ts, DigestPin), so no other bundle holds it.

/** What a task adds to the agent's context. */
export interface TaskOptions {
  /** Glob matching, for a task that matches files (find-match.ts). */
  readonly findMatch?: TaskContext['findMatch'];
}

function agentContext(environment: AgentEnvironment, commands: AgentCommands, options: TaskOptions): TaskContext {
  let network: Network | undefined;
  const variable = (name: string): string | undefined => environment.variable(name) || undefined;
  const raw = (name: string): string | undefined => {
    const value = environment.input(name);
    commands.debug(`${name}=${value}`);
    return value;
  };
  return {
    ...typedInputs(raw, variable),
    variable,
    setOutput(name, value) {
      commands.setVariable(name, value, { secret: environment.isSecretVariable(name), isOutput: true });
    },
    setSecret(value) {
      commands.setSecret(value);
    },
    info(message) {
      commands.log(message);
    },
    warning(message) {
      commands.issue('warning', message);
    },
    uploadSummary(title, markdown) {
      const dir = mkdtempSync(join(variable('Agent.TempDirectory') ?? tmpdir(), 'digest-release-'));
      const path = join(dir, `${title}.md`);
      writeFileSync(path, markdown);
      commands.uploadSummary(path);
    },
    issue(type, message, file, line) {
      commands.logIssue(type, message, file, line);
    },
    findMatch(root, patterns) {
      if (options.findMatch === undefined)
        throw new Error('This task was started without file matching (runTask options).');
      return options.findMatch(root, patterns);
    },
    uploadArtifact(artifactName, containerFolder, path) {
      commands.uploadArtifact(artifactName, containerFolder, path);
    },
    get network(): Network {
      network ??= networkFromAgent(this, variable);
      return network;
    },
    endpoints: {
      url: (id) => environment.endpointUrl(id),
      authorizationScheme: (id) => environment.endpointScheme(id),
      authorizationParameter: (id, key) => authorizationParameter(environment, id, key),
      dataParameter: (id, key) => environment.endpointData(id, key),
    },
  };
}

/**
 * The agent's network settings, as the agent publishes them (Agent.ProxyUrl, Agent.ProxyUsername,
 * Agent.ProxyPassword, Agent.ProxyBypassList, Agent.CAInfo, Agent.SkipCertValidation) and task-lib's
 * getHttpProxyConfiguration and getHttpCertConfiguration read them: the other proxy settings only
 * with a proxy URL, the bypass list as JSON. The proxy password is masked before anything else
 * happens with it.
 */
function networkFromAgent(context: TaskContext, variable: (name: string) => string | undefined): Network {
  const proxyUrl = variable('Agent.ProxyUrl');
  const proxyPassword = proxyUrl !== undefined ? variable('Agent.ProxyPassword') : undefined;
  if (proxyPassword !== undefined) context.setSecret(proxyPassword);
  let bypass: unknown[] | undefined;
  if (proxyUrl !== undefined) {
    const list = variable('Agent.ProxyBypassList') ?? '[]';
    let parsed: unknown;
    try {
      parsed = JSON.parse(list);
    } catch (err) {
      throw new DigestReleaseError(
        'NETWORK_SETTINGS',
        `The agent's proxy bypass list (Agent.ProxyBypassList) is not a JSON list of regular expressions (${messageOf(err)}); ${AGENT_PROXY_HELP}.`,
      );
    }
    if (!Array.isArray(parsed)) {
      throw new DigestReleaseError(
        'NETWORK_SETTINGS',
        `The agent's proxy bypass list (Agent.ProxyBypassList) is ${JSON.stringify(parsed)}, not a JSON list of regular expressions; ${AGENT_PROXY_HELP}.`,
      );
    }
    bypass = parsed;
  }
  const { settings, warnings } = parseNetworkSettings({
    proxyUrl,
    proxyUsername: proxyUrl !== undefined ? variable('Agent.ProxyUsername') : undefined,
    proxyPassword,
    proxyBypassList: bypass,
    caFile: variable('Agent.CAInfo'),
    skipCertValidation: variable('Agent.SkipCertValidation'),
    stallSeconds: variable(STALL_VARIABLE),
  });
  if (settings.proxy !== undefined) {
    // Also as it would travel (a password written into the proxy URL is taken from there).
    if (settings.proxy.password !== undefined) context.setSecret(settings.proxy.password);
    const authorization = proxyAuthorization(settings.proxy);
    if (authorization !== undefined) context.setSecret(authorization.slice('Basic '.length));
  }
  for (const warning of warnings) context.warning(warning);
  const described = describeNetwork(settings);
  if (described !== undefined) context.info(described);
  return new Network(settings);
}

/**
 * One authorization parameter of a service connection, from its authorization record (the agent
 * also sets ENDPOINT_AUTH_PARAMETER_<id>_<KEY>; the record keeps the parameter names as the
 * connection spells them, matched here in any case).
 */
function authorizationParameter(environment: AgentEnvironment, id: string, key: string): string | undefined {
  const auth = environment.endpointAuthorization(id);
  const parameters: unknown = isRecord(auth) ? auth.parameters : undefined;
  if (!isRecord(parameters)) return undefined;
  const wanted = key.toLowerCase();
  for (const [name, value] of Object.entries(parameters)) {
    if (name.toLowerCase() === wanted && typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

/** Runs a task's operation and turns its outcome into the task result the agent reads. */
export async function runTask(
  operation: (context: TaskContext) => Promise<string>,
  options: TaskOptions = {},
): Promise<void> {
  const write = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  let commands = new AgentCommands({ write, correlationId: '', debug: false });
  try {
    const environment = new AgentEnvironment(process.env);
    commands = new AgentCommands({
      write,
      correlationId: environment.correlationId,
      debug: /^true$/i.test(environment.variable('System.Debug') ?? ''),
    });
    const message = await operation(agentContext(environment, commands, options));
    commands.complete('Succeeded', message);
  } catch (err) {
    const code = err instanceof DigestReleaseError ? ` [${err.code}]` : '';
    if (!(err instanceof DigestReleaseError) && err instanceof Error && err.stack) commands.debug(err.stack);
    commands.complete('Failed', `${messageOf(err)}${code}`);
  }
}
