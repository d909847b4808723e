import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tl from 'azure-pipelines-task-lib/task';
import { EndpointReader } from '../connection/endpoint';
import { DigestReleaseError, messageOf } from '../errors';
import { Network } from '../http/network';
import { AGENT_PROXY_HELP, STALL_VARIABLE, describeNetwork, parseNetworkSettings } from '../http/settings';
import { proxyAuthorization } from '../http/tunnel';
import { isRecord } from '../json';

// The one place that talks to the Azure Pipelines agent: inputs, output variables, secrets, the
// build summary and the task result. Operations receive a TaskContext and never import the task
// library themselves.

export interface TaskContext {
  /** A trimmed input; undefined when empty. */
  input(name: string): string | undefined;
  /**
   * A filePath input; undefined when not given. The agent roots every filePath input against the
   * repository before the task starts, so an empty one arrives as the sources directory itself:
   * that value means "not given", as task-lib's filePathSupplied() decides.
   */
  filePathInput(name: string): string | undefined;
  requiredInput(name: string, example: string): string;
  /** A boolean input: true/false (any case); anything else is an error naming the input. */
  booleanInput(name: string, defaultValue: boolean): boolean;
  /** One of the allowed values; anything else is an error listing them. */
  choiceInput<T extends string>(name: string, allowed: readonly T[], defaultValue: T): T;
  /** A whole number from min to max; anything else is an error naming the range and what it counts. */
  wholeNumberInput(name: string, defaultValue: number, range: { readonly min: number; readonly max: number; readonly counts: string }): number;
  variable(name: string): string | undefined;
  setOutput(name: string, value: string): void;
  setSecret(value: string): void;
  info(message: string): void;
  warning(message: string): void;
  uploadSummary(title: string, markdown: string): void;
  /** An error or warning the pipeline UI links to a file and line. */
  issue(type: 'error' | 'warning', message: string, file?: string, line?: number): void;
  /** Paths (files and folders) matching glob patterns, `!` patterns excluding; relative patterns are rooted at root. */
  findMatch(root: string, patterns: readonly string[]): string[];
  readonly endpoints: EndpointReader;
  /**
   * The agent's proxy and certificate authority, read once on first use: every client a task
   * makes (registry, ACR, Resource Manager, Azure DevOps, Entra ID) takes its connections from it.
   */
  readonly network: Network;
  /** Publishes a file as a build artifact (`##vso[artifact.upload]`); only in build (YAML) runs. */
  uploadArtifact(artifactName: string, containerFolder: string, path: string): void;
}

/** The error for an input whose value cannot be used: names the input, the value and the fix. */
export function invalidInput(name: string, value: string, fix: string): DigestReleaseError {
  return new DigestReleaseError('INVALID_INPUT', `The input ${name} has the value "${value}": ${fix}`);
}

let network: Network | undefined;

export const agentContext: TaskContext = {
  input(name) {
    const value = tl.getInput(name, false)?.trim();
    return value === '' ? undefined : value;
  },
  filePathInput(name) {
    const value = this.input(name);
    if (value === undefined) return undefined;
    const root = this.variable('Build.SourcesDirectory') ?? this.variable('System.DefaultWorkingDirectory');
    return root !== undefined && resolve(value) === resolve(root) ? undefined : value;
  },
  requiredInput(name, example) {
    const value = this.input(name);
    if (value === undefined) {
      throw new DigestReleaseError('INVALID_INPUT', `The input ${name} is required and is empty. Set it, for example ${name}: ${example}`);
    }
    return value;
  },
  booleanInput(name, defaultValue) {
    const value = this.input(name);
    if (value === undefined) return defaultValue;
    if (/^true$/i.test(value)) return true;
    if (/^false$/i.test(value)) return false;
    throw invalidInput(name, value, 'use true or false.');
  },
  choiceInput(name, allowed, defaultValue) {
    const value = this.input(name);
    if (value === undefined) return defaultValue;
    const match = allowed.find((option) => option.toLowerCase() === value.toLowerCase());
    if (match === undefined) throw invalidInput(name, value, `use one of ${allowed.join(', ')}.`);
    return match;
  },
  wholeNumberInput(name, defaultValue, range) {
    const value = this.input(name);
    if (value === undefined) return defaultValue;
    const number = Number(value);
    if (!/^\d+$/.test(value) || number < range.min || number > range.max) {
      throw invalidInput(name, value, `use a whole number from ${range.min} to ${range.max} (${range.counts}; ${defaultValue} is the default).`);
    }
    return number;
  },
  variable(name) {
    const value = tl.getVariable(name);
    return value === '' ? undefined : value;
  },
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
    throw new DigestReleaseError('NETWORK_SETTINGS', `The agent's proxy bypass list (Agent.ProxyBypassList) is not a JSON list of regular expressions (${messageOf(err)}); ${AGENT_PROXY_HELP}.`);
  }
  const bypass: unknown = proxy?.proxyBypassHosts;
  if (bypass !== undefined && !Array.isArray(bypass)) {
    throw new DigestReleaseError('NETWORK_SETTINGS', `The agent's proxy bypass list (Agent.ProxyBypassList) is ${JSON.stringify(bypass)}, not a JSON list of regular expressions; ${AGENT_PROXY_HELP}.`);
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
