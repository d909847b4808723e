import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tl from 'azure-pipelines-task-lib/task';
import { DigestReleaseError, messageOf } from '../errors';
import { Network } from '../http/network';
import { AGENT_PROXY_HELP, STALL_VARIABLE, describeNetwork, parseNetworkSettings } from '../http/settings';
import { proxyAuthorization } from '../http/tunnel';
import { isRecord } from '../json';
import type { TaskContext } from './context';
import { typedInputs } from './context';

// The one place that talks to the Azure Pipelines agent: inputs, output variables, secrets, the
// build summary and the task result, as the TaskContext (context.ts) every operation receives.
// Operations never import the task library themselves.

let network: Network | undefined;

function variable(name: string): string | undefined {
  const value = tl.getVariable(name);
  return value === '' ? undefined : value;
}

export const agentContext: TaskContext = {
  ...typedInputs((name) => tl.getInput(name, false), variable),
  variable,
  setOutput(name, value) {
    tl.setVariable(name, value, false, true);
  },
  setSecret(value) {
    if (value !== '') tl.setSecret(value);
  },
  info(message) {
    console.log(message);
  },
  warning(message) {
    tl.warning(message);
  },
  uploadSummary(title, markdown) {
    const dir = mkdtempSync(join(tl.getVariable('Agent.TempDirectory') || tmpdir(), 'digest-release-'));
    const path = join(dir, `${title}.md`);
    writeFileSync(path, markdown);
    tl.uploadSummary(path);
  },
  issue(type, message, file, line) {
    tl.logIssue(type === 'error' ? tl.IssueType.Error : tl.IssueType.Warning, message, file, line);
  },
  findMatch(root, patterns) {
    return tl.findMatch(root, [...patterns]);
  },
  uploadArtifact(artifactName, containerFolder, path) {
    tl.uploadArtifact(containerFolder, path, artifactName);
  },
  get network(): Network {
    network ??= networkFromAgent(this);
    return network;
  },
  endpoints: {
    url: (id) => tl.getEndpointUrl(id, true) || undefined,
    authorizationScheme: (id) => tl.getEndpointAuthorizationScheme(id, true) || undefined,
    authorizationParameter: (id, key) => authorizationParameter(id, key),
    dataParameter: (id, key) => tl.getEndpointDataParameter(id, key, true) || undefined,
  },
};

/**
 * The agent's network settings, as the agent publishes them (Agent.ProxyUrl, Agent.ProxyUsername,
 * Agent.ProxyPassword, Agent.ProxyBypassList, Agent.CAInfo, Agent.SkipCertValidation) and task-lib
 * reads them. The proxy password is masked before anything else happens with it.
 */
function networkFromAgent(context: TaskContext): Network {
  let proxy: tl.ProxyConfiguration | null;
  try {
    proxy = tl.getHttpProxyConfiguration();
  } catch (err) {
    // task-lib parses Agent.ProxyBypassList as JSON.
    throw new DigestReleaseError(
      'NETWORK_SETTINGS',
      `The agent's proxy bypass list (Agent.ProxyBypassList) is not a JSON list of regular expressions (${messageOf(err)}); ${AGENT_PROXY_HELP}.`,
    );
  }
  const bypass: unknown = proxy?.proxyBypassHosts;
  if (bypass !== undefined && !Array.isArray(bypass)) {
    throw new DigestReleaseError(
      'NETWORK_SETTINGS',
      `The agent's proxy bypass list (Agent.ProxyBypassList) is ${JSON.stringify(bypass)}, not a JSON list of regular expressions; ${AGENT_PROXY_HELP}.`,
    );
  }
  if (proxy?.proxyPassword) context.setSecret(proxy.proxyPassword);
  const cert = tl.getHttpCertConfiguration();
  const { settings, warnings } = parseNetworkSettings({
    proxyUrl: proxy?.proxyUrl,
    proxyUsername: proxy?.proxyUsername,
    proxyPassword: proxy?.proxyPassword,
    proxyBypassList: bypass,
    caFile: cert?.caFile,
    skipCertValidation: tl.getVariable('Agent.SkipCertValidation'),
    stallSeconds: tl.getVariable(STALL_VARIABLE),
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
 * One authorization parameter of a service connection. The task library's
 * getEndpointAuthorizationParameter writes the value to the debug log, password included, so the
 * parameters are read from the connection's authorization record, which it does not log.
 */
function authorizationParameter(id: string, key: string): string | undefined {
  const auth = tl.getEndpointAuthorization(id, true);
  const parameters: unknown = auth?.parameters;
  if (!isRecord(parameters)) return undefined;
  const wanted = key.toLowerCase();
  for (const [name, value] of Object.entries(parameters)) {
    if (name.toLowerCase() === wanted && typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

/** Runs a task's operation and turns its outcome into the task result the agent reads. */
export async function runTask(operation: (context: TaskContext) => Promise<string>): Promise<void> {
  try {
    const message = await operation(agentContext);
    tl.setResult(tl.TaskResult.Succeeded, message);
  } catch (err) {
    const code = err instanceof DigestReleaseError ? ` [${err.code}]` : '';
    if (!(err instanceof DigestReleaseError) && err instanceof Error && err.stack) tl.debug(err.stack);
    tl.setResult(tl.TaskResult.Failed, `${messageOf(err)}${code}`);
  }
}
