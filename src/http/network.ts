import { Agent as HttpAgent } from 'node:http';
import type { AgentOptions } from 'node:https';
import { Agent as HttpsAgent } from 'node:https';
import type { SecureContext } from 'node:tls';
import { bypassesProxy } from './bypass';
import type { NetworkSettings, ProxySettings } from './settings';
import { DIRECT_SETTINGS } from './settings';
import { caInfoContext } from './trust';
import { TunnelAgent, proxyAuthorization } from './tunnel';

// How every request of a task reaches its host: the one place that applies the agent's network
// settings. A task makes one Network from the settings it read (TaskContext.network) and hands it
// to every client it makes (registry, ACR token exchange, Resource Manager, Azure DevOps, and
// @azure/identity through http/sdk-client.ts), so all of them take the same route and trust the
// same authorities. Connections are kept alive and pooled per route; idle ones do not keep the
// process alive, and one idle for POOLED_IDLE_MS is closed rather than reused.

/**
 * How long a pooled connection may sit idle and still be reused. A server closes idle connections
 * after its own time (Node's after 5 s, nginx's after 75 s) and may do so just as a request is
 * written into one: the request fails with ECONNRESET, and a blob upload starts over. That happened
 * to a large blob whose source took seconds to start sending while the target's connection, opened
 * for the upload session, sat idle. Closing our side first, below the shortest common server time,
 * costs a new connection now and then; a lower Keep-Alive timeout a server announces wins (Node's
 * agent reads it).
 */
export const POOLED_IDLE_MS = 4_000;

export type Route =
  /** Straight to the host: no proxy, or the host bypasses it. */
  | { readonly kind: 'direct'; readonly agent: HttpAgent }
  /** https through a CONNECT tunnel. */
  | { readonly kind: 'tunnel'; readonly agent: HttpAgent; readonly proxy: ProxySettings }
  /** Plain http handed to the proxy whole (absolute-form request line). */
  | {
      readonly kind: 'forward';
      readonly agent: HttpAgent;
      readonly proxy: ProxySettings;
      readonly authorization: string | undefined;
    };

export interface RouteOptions {
  /**
   * Skip certificate checks when the agent says so (Agent.SkipCertValidation): for Azure DevOps
   * only, as azure-devops-node-api does with task-lib's setting.
   */
  readonly agentMaySkipCertValidation?: boolean;
}

type AgentKind = 'http' | 'https' | 'tunnel' | 'proxy';

export class Network {
  private readonly agents = new Map<string, HttpAgent>();
  private trust: SecureContext | undefined;
  private trustRead = false;

  /** `pooledIdleMs`: POOLED_IDLE_MS, shorter in tests. */
  constructor(
    readonly settings: NetworkSettings,
    private readonly pooledIdleMs = POOLED_IDLE_MS,
  ) {}

  route(url: URL, options: RouteOptions = {}): Route {
    const secure = url.protocol === 'https:';
    const verify = !(options.agentMaySkipCertValidation === true && this.settings.skipCertValidation);
    const proxy = this.proxyFor(url);
    if (proxy === undefined) return { kind: 'direct', agent: this.agent(secure ? 'https' : 'http', verify) };
    if (secure) return { kind: 'tunnel', proxy, agent: this.agent('tunnel', verify) };
    return { kind: 'forward', proxy, authorization: proxyAuthorization(proxy), agent: this.agent('proxy', true) };
  }

  /** The proxy a request to `url` goes through; undefined when it goes straight to the host. */
  proxyFor(url: URL): ProxySettings | undefined {
    const proxy = this.settings.proxy;
    return proxy === undefined || bypassesProxy(url, proxy.bypass) ? undefined : proxy;
  }

  private agent(kind: AgentKind, verify: boolean): HttpAgent {
    const key = `${kind}:${verify}`;
    let agent = this.agents.get(key);
    if (agent) return agent;
    const proxy = this.settings.proxy;
    const tlsOptions = (): AgentOptions => {
      const trust = this.trustedContext();
      return {
        keepAlive: true,
        timeout: this.pooledIdleMs,
        ...(trust ? { secureContext: trust } : {}),
        ...(verify ? {} : { rejectUnauthorized: false }),
      };
    };
    switch (kind) {
      case 'http':
        agent = new HttpAgent({ keepAlive: true, timeout: this.pooledIdleMs });
        break;
      case 'https':
        agent = new HttpsAgent(tlsOptions());
        break;
      case 'tunnel':
        agent = new TunnelAgent(proxy!, this.trustedContext(), tlsOptions());
        break;
      case 'proxy':
        // Plain http to the proxy, or TLS to an https:// proxy (verified, whatever the host's check).
        agent =
          proxy!.url.protocol === 'https:'
            ? new HttpsAgent({ ...tlsOptions(), rejectUnauthorized: true })
            : new HttpAgent({ keepAlive: true, timeout: this.pooledIdleMs });
        break;
    }
    this.agents.set(key, agent);
    return agent;
  }

  /** Node's own trust plus Agent.CAInfo, read on the first TLS connection; undefined keeps Node's. */
  private trustedContext(): SecureContext | undefined {
    if (!this.trustRead) {
      this.trust = this.settings.caFile === undefined ? undefined : caInfoContext(this.settings.caFile);
      this.trustRead = true;
    }
    return this.trust;
  }
}

/** No proxy, Node's own trust: for code run outside a task (tests, benchmarks) and the default of every client. */
export const DIRECT_NETWORK = new Network(DIRECT_SETTINGS);
