import { DigestReleaseError } from '../errors';
import { compileBypassList } from './bypass';

// The agent's network settings, read once per task run: its proxy (with credentials and bypass
// list) and the certificate authority it trusts. The agent hands them to every task as variables
// (azure-pipelines-agent, Agent.Worker/ExecutionContext.cs, InitializeJob) and task-lib reads them
// (getHttpProxyConfiguration, getHttpCertConfiguration); this file turns those values into a typed
// object and refuses what cannot be used, naming the variable and the agent setting behind it.

export interface ProxySettings {
  /** The proxy's origin: `http://proxy.corp:8080` (or https://). */
  readonly url: URL;
  /** Proxy credentials, sent as Basic; both set or neither. */
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** Agent.ProxyBypassList, compiled (see bypass.ts). */
  readonly bypass: readonly RegExp[];
}

export interface NetworkSettings {
  readonly proxy: ProxySettings | undefined;
  /** Agent.CAInfo: a PEM file of certificate authorities trusted besides the system's. */
  readonly caFile: string | undefined;
  /**
   * Agent.SkipCertValidation. task-lib hands it only to azure-devops-node-api, which then skips
   * certificate checks for its Azure DevOps calls; we honour it there and nowhere else (see
   * Network.route): a registry, Entra ID or Resource Manager is always verified.
   */
  readonly skipCertValidation: boolean;
  /**
   * How long nothing may move on a connection while something should before it counts as stalled
   * (http/stall.ts): the pipeline's DigestRelease.StallSeconds, not an agent setting; the default
   * when not set.
   */
  readonly stallMs?: number;
}

/** The values as the agent and task-lib give them; empty or undefined means not set. */
export interface AgentNetworkValues {
  /** Agent.ProxyUrl */
  readonly proxyUrl?: string | undefined;
  /** Agent.ProxyUsername */
  readonly proxyUsername?: string | undefined;
  /** Agent.ProxyPassword (a secret variable) */
  readonly proxyPassword?: string | undefined;
  /** Agent.ProxyBypassList as task-lib parses it: a JSON array of regular expressions. */
  readonly proxyBypassList?: readonly unknown[] | undefined;
  /** Agent.CAInfo */
  readonly caFile?: string | undefined;
  /** Agent.SkipCertValidation: "True" when set. */
  readonly skipCertValidation?: string | undefined;
  /** The pipeline variable DigestRelease.StallSeconds. */
  readonly stallSeconds?: string | undefined;
}

export const DIRECT_SETTINGS: NetworkSettings = { proxy: undefined, caFile: undefined, skipCertValidation: false };

/** The pipeline variable that sets the stall time, for when a network is known to pause longer. */
export const STALL_VARIABLE = 'DigestRelease.StallSeconds';
/**
 * Nothing moving for this long, while something should, is a stall. Long enough for a registry
 * under load and a congested link (TCP gives up on a lost packet's fourth retransmission after
 * some 15 s), short enough that an operation that stalls twice fails well within a minute.
 */
export const DEFAULT_STALL_MS = 20_000;
const STALL_SECONDS_RANGE = [1, 600] as const;

/** Where a user fixes each setting: the agent's configuration, not the pipeline. */
export const AGENT_PROXY_HELP =
  "the agent's proxy is set when it is configured (./config.sh --proxyurl, --proxyusername, --proxypassword; the .proxybypass file) or by VSTS_HTTP_PROXY, VSTS_HTTP_PROXY_USERNAME and VSTS_HTTP_PROXY_PASSWORD in its environment";

export interface ParsedNetworkSettings {
  readonly settings: NetworkSettings;
  /** What a user should know: bypass entries skipped. */
  readonly warnings: readonly string[];
}

export function parseNetworkSettings(values: AgentNetworkValues): ParsedNetworkSettings {
  const warnings: string[] = [];
  const caFile = nonEmpty(values.caFile);
  const skipCertValidation = /^\s*true\s*$/i.test(values.skipCertValidation ?? '');
  const stall = stallSetting(values.stallSeconds);
  const rawUrl = nonEmpty(values.proxyUrl);
  if (rawUrl === undefined) return { settings: { proxy: undefined, caFile, skipCertValidation, ...stall }, warnings };

  let parsed: URL;
  try {
    parsed = new URL(rawUrl);
  } catch {
    throw proxyUrlError(rawUrl, 'which is not a URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw proxyUrlError(
      rawUrl,
      `whose scheme ${parsed.protocol.replace(/:$/, '')} this task cannot use: it connects through HTTP proxies (http:// or https://, with CONNECT)`,
    );
  }
  if (parsed.hostname === '') throw proxyUrlError(rawUrl, 'which names no host');
  // Credentials written into the URL count when the agent has none of its own.
  // Credentials are taken as the agent has them, untrimmed.
  let username = values.proxyUsername || undefined;
  let password = values.proxyPassword || undefined;
  if (username === undefined && parsed.username !== '') {
    username = decodeURIComponent(parsed.username);
    password = parsed.password === '' ? undefined : decodeURIComponent(parsed.password);
  }
  // The agent uses proxy credentials only when both are set (AgentWebProxy.Update); so do we.
  if (username === undefined || password === undefined) {
    if (username !== undefined)
      warnings.push(
        `The agent's proxy user name (Agent.ProxyUsername) "${username}" has no password (Agent.ProxyPassword), so no proxy credentials are sent.`,
      );
    username = undefined;
    password = undefined;
  }
  const url = new URL(parsed.origin);
  const bypass = compileBypassList(values.proxyBypassList ?? []);
  for (const entry of bypass.invalid) {
    warnings.push(
      `The agent's proxy bypass list (Agent.ProxyBypassList) has the entry ${entry}, which is not a regular expression; it is skipped, as the agent skips it. Fix the agent's .proxybypass file or no_proxy.`,
    );
  }
  return {
    settings: { proxy: { url, username, password, bypass: bypass.patterns }, caFile, skipCertValidation, ...stall },
    warnings,
  };
}

/** DigestRelease.StallSeconds: seconds, decimals allowed, within the range; not set is the default. */
function stallSetting(value: string | undefined): { stallMs?: number } {
  const text = nonEmpty(value);
  if (text === undefined) return {};
  const seconds = Number(text);
  const [min, max] = STALL_SECONDS_RANGE;
  if (!/^\d+(\.\d+)?$/.test(text) || seconds < min || seconds > max) {
    throw new DigestReleaseError(
      'NETWORK_SETTINGS',
      `The pipeline variable ${STALL_VARIABLE} is "${text}": give the seconds a connection may stay silent before it counts as stalled, from ${min} to ${max} (${DEFAULT_STALL_MS / 1000} when not set), or remove the variable.`,
    );
  }
  return { stallMs: Math.round(seconds * 1000) };
}

/** One line for the log when the agent has network settings; undefined when it has none. */
export function describeNetwork(settings: NetworkSettings): string | undefined {
  const parts: string[] = [];
  const proxy = settings.proxy;
  if (proxy !== undefined) {
    const user = proxy.username !== undefined ? `as ${proxy.username}` : 'without credentials';
    const bypass =
      proxy.bypass.length === 0
        ? 'no bypass list'
        : `${proxy.bypass.length} bypass pattern${proxy.bypass.length === 1 ? '' : 's'}`;
    parts.push(
      `through the agent's proxy ${proxy.url.origin} (${user}; ${bypass}; loopback and link-local hosts direct)`,
    );
  }
  if (settings.caFile !== undefined)
    parts.push(`trusting the agent's CA file ${settings.caFile} (Agent.CAInfo) besides the system's authorities`);
  if (settings.skipCertValidation)
    parts.push(
      "not checking Azure DevOps' certificate (Agent.SkipCertValidation; registries, Entra ID and Resource Manager are always checked)",
    );
  if (settings.stallMs !== undefined)
    parts.push(`a connection silent for ${settings.stallMs / 1000} s counts as stalled (${STALL_VARIABLE})`);
  return parts.length === 0 ? undefined : `Network: ${parts.join('; ')}.`;
}

/** The proxy as messages name it: its origin, never its credentials. */
export function proxyName(proxy: ProxySettings): string {
  return `${proxy.url.origin} (Agent.ProxyUrl)`;
}

function proxyUrlError(value: string, why: string): DigestReleaseError {
  return new DigestReleaseError(
    'NETWORK_SETTINGS',
    `The agent's proxy Agent.ProxyUrl is "${redactUserinfo(value)}", ${why}. Give the agent a proxy URL such as http://proxy.example.com:8080: ${AGENT_PROXY_HELP}.`,
  );
}

/** A URL as text with any password in it replaced. */
function redactUserinfo(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}
