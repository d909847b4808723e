import type { AgentOptions, RequestOptions } from 'node:https';
import { Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';
import { connect as netConnect, isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionOptions, SecureContext } from 'node:tls';
import { connect as tlsConnect } from 'node:tls';
import type { ProxySettings } from './settings';
import { AGENT_PROXY_HELP, proxyName } from './settings';

// HTTPS through the agent's proxy: a CONNECT tunnel per connection (RFC 9110, 9.3.6), opened with
// the proxy credentials as Basic, then TLS with the target host inside it, so the proxy sees only
// the host and port. An https:// proxy is spoken to over TLS first. The tunnels are pooled and
// kept alive like any https connection. A proxy that refuses is an error that names the proxy, its
// answer and what to change; the password is never part of it.

/** How long the proxy may take to answer CONNECT (connecting to the target included). */
const CONNECT_TIMEOUT_MS = 60_000;
/** A CONNECT answer is a status line and a few headers. */
const MAX_ANSWER_HEAD_BYTES = 16 * 1024;

/** The proxy could not be reached, or answered CONNECT with something other than 2xx. */
export class ProxyError extends Error {
  /** The proxy's status for CONNECT (or for a forwarded plain-http request); undefined when it was not reached. */
  readonly status: number | undefined;
  /** The network error code when the proxy was not reached (ECONNREFUSED, ...). */
  readonly code: string | undefined;

  constructor(message: string, options: { status?: number; code?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProxyError';
    this.status = options.status;
    this.code = options.code;
  }
}

/** The Proxy-Authorization value for the proxy's credentials; undefined without them. */
export function proxyAuthorization(proxy: ProxySettings): string | undefined {
  if (proxy.username === undefined || proxy.password === undefined) return undefined;
  return `Basic ${Buffer.from(`${proxy.username}:${proxy.password}`, 'utf8').toString('base64')}`;
}

/** An https.Agent whose connections are CONNECT tunnels through the proxy. */
export class TunnelAgent extends HttpsAgent {
  constructor(
    private readonly proxy: ProxySettings,
    /** Trust for an https:// proxy's own certificate. */
    private readonly proxyTrust: SecureContext | undefined,
    options: AgentOptions,
  ) {
    super(options);
  }

  override createConnection(
    options: RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const host = String(options.host ?? 'localhost');
    const port = Number(options.port ?? 443);
    openTunnel(this.proxy, this.proxyTrust, host, port).then(
      (socket) => {
        // The request's TLS options (servername, trust, rejectUnauthorized), over the tunnel.
        const secure = tlsConnect({ ...(options as ConnectionOptions), socket });
        callback?.(null, secure);
      },
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

/** `host:port` as CONNECT names it (IPv6 in brackets). */
export function authorityOf(host: string, port: number): string {
  return `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

/** Opens a tunnel to host:port; resolves with the proxy connection, ready for TLS. */
export function openTunnel(
  proxy: ProxySettings,
  proxyTrust: SecureContext | undefined,
  host: string,
  port: number,
): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const authority = authorityOf(host, port);
    const secureProxy = proxy.url.protocol === 'https:';
    const proxyHost = proxy.url.hostname.replace(/^\[(.*)\]$/, '$1');
    const proxyPort = Number(proxy.url.port || (secureProxy ? 443 : 80));
    const socket: Socket = secureProxy
      ? tlsConnect({
          host: proxyHost,
          port: proxyPort,
          ...(isIP(proxyHost) ? {} : { servername: proxyHost }),
          ...(proxyTrust ? { secureContext: proxyTrust } : {}),
        })
      : netConnect({ host: proxyHost, port: proxyPort });
    let head = Buffer.alloc(0);
    let answered = false;
    let done = false;

    const finish = (): void => {
      done = true;
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      socket.setTimeout(0);
    };
    const fail = (err: Error): void => {
      if (done) return;
      finish();
      socket.destroy();
      reject(err);
    };
    const onError = (err: Error): void => {
      const code = (err as { code?: unknown }).code;
      fail(answered ? err : unreachableProxy(proxy, typeof code === 'string' ? code : 'UNKNOWN', err));
    };
    const onClose = (): void =>
      fail(
        new ProxyError(
          `The agent's proxy ${proxyName(proxy)} closed the connection before it answered CONNECT ${authority}.`,
          { code: 'ECONNRESET' },
        ),
      );
    const onData = (chunk: Buffer): void => {
      answered = true;
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.byteLength > MAX_ANSWER_HEAD_BYTES)
          fail(
            new ProxyError(
              `The agent's proxy ${proxyName(proxy)} answered CONNECT ${authority} with more than ${MAX_ANSWER_HEAD_BYTES} bytes of headers.`,
            ),
          );
        return;
      }
      const lines = head.subarray(0, end).toString('latin1').split('\r\n');
      const statusLine = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
      if (!statusLine) {
        fail(
          new ProxyError(
            `The agent's proxy ${proxyName(proxy)} answered CONNECT ${authority} with "${(lines[0] ?? '').slice(0, 100)}", which is not HTTP. Check Agent.ProxyUrl: ${AGENT_PROXY_HELP}.`,
          ),
        );
        return;
      }
      const status = Number(statusLine[1]);
      if (status < 200 || status > 299) {
        fail(refusal(proxy, authority, status, statusLine[2] ?? '', headerValues(lines.slice(1))));
        return;
      }
      finish();
      socket.pause();
      const rest = head.subarray(end + 4);
      if (rest.byteLength > 0) socket.unshift(rest);
      resolve(socket);
    };

    socket.once(secureProxy ? 'secureConnect' : 'connect', () => {
      const authorization = proxyAuthorization(proxy);
      socket.write(
        `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${authorization ? `Proxy-Authorization: ${authorization}\r\n` : ''}\r\n`,
      );
    });
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => {
      const err = new ProxyError(
        `The agent's proxy ${proxyName(proxy)} did not answer CONNECT ${authority} within ${CONNECT_TIMEOUT_MS / 1000} s.`,
        { code: 'ETIMEDOUT' },
      );
      fail(err);
    });
  });
}

/** The error for a proxy that answered a request for `authority` with a status that is not success. */
export function refusal(
  proxy: ProxySettings,
  authority: string,
  status: number,
  reason: string,
  headers: ReadonlyMap<string, string[]>,
): ProxyError {
  const answer = `${status}${reason ? ` ${reason}` : ''}`;
  const name = proxyName(proxy);
  const host = authority.replace(/:\d+$/, '');
  if (status === 407) {
    const schemes = (headers.get('proxy-authenticate') ?? [])
      .map((value) => value.trim().split(/\s+/)[0] ?? '')
      .filter((s) => s !== '');
    const basic = schemes.length === 0 || schemes.some((s) => s.toLowerCase() === 'basic');
    let why: string;
    if (!basic) {
      why = `it asks for ${schemes.join(' or ')} authentication, and this task signs in to proxies with Basic only. Allow Basic authentication for the agent's account on the proxy, or add ${host} to the agent's proxy bypass list if the agent can reach it directly`;
    } else if (proxy.username === undefined) {
      why = `it asks for credentials and the agent has none for its proxy (Agent.ProxyUsername and Agent.ProxyPassword are empty). Give the agent its proxy credentials: ${AGENT_PROXY_HELP}`;
    } else {
      why = `it refused the proxy credentials of the user "${proxy.username}" (Agent.ProxyUsername with Agent.ProxyPassword). Check the agent's proxy user name and password: ${AGENT_PROXY_HELP}`;
    }
    return new ProxyError(`The agent's proxy ${name} answered ${answer} for ${authority}: ${why}.`, { status });
  }
  if (status === 403) {
    return new ProxyError(
      `The agent's proxy ${name} refused to connect to ${authority} (${answer}): its rules do not allow this host or port. Ask the proxy's administrators to allow it, or, if the agent can reach ${host} directly, add it to the agent's proxy bypass list (the .proxybypass file or no_proxy; Agent.ProxyBypassList).`,
      { status },
    );
  }
  const detail = headers.get('x-squid-error')?.[0];
  return new ProxyError(
    `The agent's proxy ${name} could not connect to ${authority} (${answer}${detail ? `, ${detail}` : ''}). Check the host name and port, and that the proxy can reach them.`,
    { status },
  );
}

/** The error for a proxy that could not be reached at all. */
export function unreachableProxy(proxy: ProxySettings, code: string, cause: unknown): ProxyError {
  let why: string;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') why = 'its host name could not be resolved';
  else if (code === 'ECONNREFUSED') why = 'the connection was refused';
  else if (code === 'ETIMEDOUT') why = 'it did not answer in time';
  else if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|SSL/.test(code))
    why = `its TLS certificate was not accepted (${code})`;
  else why = code;
  return new ProxyError(
    `Could not reach the agent's proxy ${proxyName(proxy)}: ${why}. Check the proxy URL; ${AGENT_PROXY_HELP}.`,
    { code, cause },
  );
}

export function headerValues(lines: readonly string[]): Map<string, string[]> {
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return headers;
}
