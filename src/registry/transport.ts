import { Readable } from 'node:stream';
import { DigestReleaseError, messageOf } from '../errors';
import { DIRECT_NETWORK, Network } from '../http/network';
import { proxyName } from '../http/settings';
import { ProxyError } from '../http/tunnel';
import { HttpResponse, exchange } from './http';

// One HTTP request with bounded retries. Retried: 429 and 503 (after Retry-After), other 5xx,
// connection resets and time-outs, with exponential backoff. Not retried: refused connections,
// unknown hosts and TLS failures, which do not mend in seconds and deserve a fast, clear error.

export interface TransportOptions {
  /** Attempts in all, the first included. */
  readonly maxAttempts?: number;
  /** Time allowed for the answer's headers of one attempt. */
  readonly timeoutMs?: number;
  /** First backoff; doubles with each retry. */
  readonly backoffMs?: number;
  /** Longest Retry-After we honour; a registry asking for more gets an error instead of a hung task. */
  readonly maxRetryAfterMs?: number;
  readonly userAgent?: string;
  /** What the peer is called in errors: "registry" unless told ("Azure Resource Manager", "Azure DevOps"). */
  readonly peer?: string;
  /** Called once per request sent over the wire, for counting in tests and benchmarks. */
  readonly onRequest?: (method: string, url: string, status: number | undefined) => void;
  /** The agent's proxy and trust (TaskContext.network); none unless given. */
  readonly network?: Network;
  /** Azure DevOps only: Agent.SkipCertValidation applies, as azure-devops-node-api applies it. */
  readonly agentMaySkipCertValidation?: boolean;
}

export interface Request {
  readonly method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly url: string;
  readonly headers?: Record<string, string>;
  /**
   * A body that can be sent again on a retry, or a Node stream, which is sent once: a
   * request with a stream body is never retried here, the caller starts over (a new upload, a new
   * source read).
   */
  readonly body?: RequestBody;
}

export type RequestBody = string | Uint8Array<ArrayBuffer> | Readable;

const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
const RETRY_NETWORK_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED']);
/** A connection with nothing sent or received for this long is dropped (undici's body time-out). */
const IDLE_TIMEOUT_MS = 300_000;

export const DEFAULT_USER_AGENT = 'digest-release';

export class Transport {
  private readonly maxAttempts: number;
  private readonly timeoutMs: number;
  private readonly backoffMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly userAgent: string;
  private readonly peer: string;
  private readonly onRequest: TransportOptions['onRequest'];
  private readonly network: Network;
  private readonly agentMaySkipCertValidation: boolean;

  constructor(options: TransportOptions = {}) {
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 4);
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.backoffMs = options.backoffMs ?? 500;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
    this.userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.peer = options.peer ?? 'registry';
    this.onRequest = options.onRequest;
    this.network = options.network ?? DIRECT_NETWORK;
    this.agentMaySkipCertValidation = options.agentMaySkipCertValidation === true;
  }

  /** Sends the request; returns the last answer, whatever its status, or throws UNREACHABLE. */
  async send(request: Request): Promise<HttpResponse> {
    const host = new URL(request.url).host;
    const streaming = request.body instanceof Readable;
    const headers = { 'User-Agent': this.userAgent, ...request.headers };
    for (let attempt = 1; ; attempt++) {
      const last = streaming || attempt >= this.maxAttempts;
      let response: HttpResponse;
      try {
        // The time-out covers the wait for the answer's headers, not the reading of its body: a
        // layer of gigabytes streams for longer than any sensible time-out (the idle time-out still
        // catches a stalled one). A streamed request body may take as long to send, so it has none.
        response = await exchange(request.url, request.method, headers, request.body, {
          ...(streaming ? {} : { headersTimeoutMs: this.timeoutMs }),
          idleTimeoutMs: Math.max(IDLE_TIMEOUT_MS, this.timeoutMs),
          network: this.network,
          agentMaySkipCertValidation: this.agentMaySkipCertValidation,
        });
      } catch (err) {
        this.onRequest?.(request.method, request.url, undefined);
        // A stream body that failed its own check (a blob whose bytes do not match its digest)
        // aborts the request; that check's error is the one to report, not a network one.
        const own = ownError(err);
        if (own) throw own;
        if (err instanceof ProxyError) {
          // A proxy that could not reach the host or dropped the connection may do better on a
          // second try; refused credentials or a host its rules forbid will not.
          const transient = (err.status !== undefined && err.status >= 502 && err.status <= 504) || (err.code !== undefined && RETRY_NETWORK_CODES.has(err.code));
          if (!last && transient) {
            await sleep(this.backoff(attempt));
            continue;
          }
          throw new DigestReleaseError('PROXY', `${err.message}${attempt > 1 ? ` (after ${attempt} attempts)` : ''}`, { cause: err, ...(err.status !== undefined ? { status: err.status } : {}) });
        }
        const code = networkCode(err);
        if (!last && (RETRY_NETWORK_CODES.has(code) || code === 'TimeoutError')) {
          await sleep(this.backoff(attempt));
          continue;
        }
        throw unreachable(this.peer, host, code, err, attempt, this.network, new URL(request.url));
      }
      this.onRequest?.(request.method, request.url, response.status);
      if (last || !RETRY_STATUS.has(response.status)) return response;
      const retryAfter = retryAfterMs(response.headers.get('retry-after'));
      if (retryAfter !== undefined && retryAfter > this.maxRetryAfterMs) return response;
      await response.body?.cancel();
      await sleep(retryAfter ?? this.backoff(attempt));
    }
  }

  private backoff(attempt: number): number {
    return backoffDelay(this.backoffMs, attempt);
  }
}

/** No pause between attempts is longer than this, however many attempts are allowed. */
const MAX_BACKOFF_MS = 30_000;

/** The pause after failed attempt `attempt` (1 for the first): `baseMs`, doubling with each, bounded. */
export function backoffDelay(baseMs: number, attempt: number): number {
  return Math.min(MAX_BACKOFF_MS, Math.max(0, baseMs) * 2 ** (attempt - 1));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Retry-After is either seconds or an HTTP date. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** The system error code behind a failed request, looked for down the cause chain. */
function networkCode(err: unknown): string {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current; depth++) {
    if (current instanceof Error && current.name === 'TimeoutError') return 'TimeoutError';
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    // Happy eyeballs (IPv4 and IPv6 tried in turn) fails with an AggregateError of both attempts.
    const errors = (current as { errors?: unknown }).errors;
    current = Array.isArray(errors) && errors.length > 0 ? errors[0] : (current as { cause?: unknown }).cause;
  }
  return 'UNKNOWN';
}

function ownError(err: unknown): DigestReleaseError | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current instanceof DigestReleaseError) return current;
    current = current.cause;
  }
  return undefined;
}

/** The innermost message: a wrapped error's reason is in its cause. */
function innermostMessage(err: unknown): string {
  let message = messageOf(err);
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    message = current.message;
    current = current.cause;
  }
  return message;
}

/** The error for a request that got no answer: what went wrong, and where to fix it. */
export function unreachable(peer: string, host: string, code: string, err: unknown, attempts: number, network: Network = DIRECT_NETWORK, url?: URL): DigestReleaseError {
  const proxy = url === undefined ? undefined : network.proxyFor(url);
  const caFile = network.settings.caFile;
  let why: string;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    why = `the host name "${host.replace(/:\d+$/, '')}" could not be resolved; check the ${peer} name`;
    // Behind a proxy only the proxy may resolve outside names: a host that bypassed it must resolve here.
    if (network.settings.proxy !== undefined && proxy === undefined) why += `, and whether it should go through the agent's proxy (it matches the bypass list, Agent.ProxyBypassList, or is a loopback or link-local address)`;
  } else if (code === 'ECONNREFUSED') why = `the connection was refused; check the host and port, and that the ${peer} is running`;
  else if (code === 'TimeoutError' || code.includes('TIMEOUT')) why = 'it did not answer in time';
  else if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|SSL/.test(code)) {
    why =
      caFile !== undefined
        ? `its TLS certificate was not accepted (${code}): it is not signed by an authority the agent trusts (the system's, and Agent.CAInfo "${caFile}"); if the ${peer} uses another private CA, add it to the agent's CA file`
        : `its TLS certificate was not accepted (${code}); if the ${peer} uses a private CA, configure the agent with it (./config.sh --sslcacert, which tasks read as Agent.CAInfo) or point NODE_EXTRA_CA_CERTS at the CA file in the agent's environment`;
    if (network.settings.skipCertValidation) why += '; Agent.SkipCertValidation applies only to Azure DevOps, never to registries, Entra ID or Resource Manager';
  } else why = code === 'UNKNOWN' ? innermostMessage(err) : code;
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  const via = proxy !== undefined ? ` through the agent's proxy ${proxyName(proxy)}` : '';
  return new DigestReleaseError('UNREACHABLE', `Could not reach the ${peer} ${host}${via}${tries}: ${why}.`, { cause: err });
}
