import { Readable } from 'node:stream';
import { DigestReleaseError, isDigestReleaseError, messageOf } from '../errors';
import { DIRECT_NETWORK, Network } from '../http/network';
import { DEFAULT_STALL_MS, STALL_VARIABLE, proxyName } from '../http/settings';
import { StallError, stallBehind } from '../http/stall';
import { ProxyError } from '../http/tunnel';
import { BodyLimit, readBodyUpTo } from './bounded';
import { HttpResponse, SentRequest, exchange } from './http';

// One HTTP request with bounded retries. Retried: 429 and 503 (after Retry-After), other 5xx,
// connection resets and stalls, with exponential backoff. Not retried: refused connections,
// unknown hosts and TLS failures, which do not mend in seconds and deserve a fast, clear error.
//
// Stalls (http/stall.ts) are bounded per operation, not per request: an operation (reading one
// manifest, copying one blob) survives one stall and fails at the second, however many requests
// it makes and whichever of them stalls, so a registry that has stopped answering fails a task in
// about two stall times, never in attempts × layers × minutes.

export interface TransportOptions {
  /** Attempts in all, the first included. */
  readonly maxAttempts?: number;
  /**
   * How long nothing may move while something should (connecting, the peer taking the request,
   * the answer's body coming); the network's (the pipeline variable DigestRelease.StallSeconds).
   */
  readonly stallMs?: number;
  /** How long the answer's headers may take once a request is sent; the stall time unless given. */
  readonly timeoutMs?: number;
  /** First backoff; doubles with each retry. */
  readonly backoffMs?: number;
  /** Longest Retry-After we honour; a registry asking for more gets an error instead of a hung task. */
  readonly maxRetryAfterMs?: number;
  readonly userAgent?: string;
  /** What the peer is called in errors: "registry" unless told ("source registry", "Azure Resource Manager endpoint"). */
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
  /** The stalls of the operation this request is part of; a budget of its own when not given. */
  readonly stalls?: StallBudget;
  /**
   * The request completes an upload of this many bytes: the registry checks their digest and
   * stores them before it answers, which may take a while for a large blob (see answerWaitMs).
   */
  readonly completesUpload?: number;
}

export type RequestBody = string | Uint8Array<ArrayBuffer> | Readable;

/**
 * The stalls one operation may survive. Every request of the operation, and every retry of it at
 * any level (a body read again, an upload started over), spends from the same budget: the first
 * stall is retried, the second fails the operation.
 */
export class StallBudget {
  private count = 0;

  constructor(private readonly survivable = 1) {}

  /** Counts a stall; true while the operation may try again. */
  spend(): boolean {
    this.count++;
    return this.count <= this.survivable;
  }

  /** A stall too many has happened: nothing of the operation is tried again. */
  get exhausted(): boolean {
    return this.count > this.survivable;
  }

  get stalls(): number {
    return this.count;
  }
}

/** An answer read whole; `body` only for a success (2xx), other answers come back unread. */
export interface WholeAnswer {
  readonly response: HttpResponse;
  readonly body?: Buffer;
}

/** Sends the request of a whole read, once per attempt, spending stalls from the operation's budget. */
export type Sender = (stalls: StallBudget) => Promise<HttpResponse>;

const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
const RETRY_NETWORK_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED']);
/** How a body that broke off midway fails, besides the network codes above. */
const LOST_BODY_CODES = new Set([...RETRY_NETWORK_CODES, 'ERR_STREAM_PREMATURE_CLOSE']);
/**
 * Once a request is sent, its answer may take the answer time (the stall time unless set), and a
 * second more for every 10 MiB sent or completed: after an upload the registry checks the digest of
 * what it got and stores it before it answers, which takes a while for a large blob and none for a
 * small one. A registry slower than 10 MiB a second at that is treated as stalled.
 */
const ANSWER_BYTES_PER_SECOND = 10 * 1024 * 1024;

export const DEFAULT_USER_AGENT = 'digest-release';

export class Transport {
  private readonly maxAttempts: number;
  readonly stallMs: number;
  private readonly timeoutMs: number;
  private readonly backoffMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly userAgent: string;
  readonly peer: string;
  private readonly onRequest: TransportOptions['onRequest'];
  readonly network: Network;
  private readonly agentMaySkipCertValidation: boolean;

  constructor(options: TransportOptions = {}) {
    this.network = options.network ?? DIRECT_NETWORK;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 4);
    this.stallMs = options.stallMs ?? this.network.settings.stallMs ?? DEFAULT_STALL_MS;
    this.timeoutMs = options.timeoutMs ?? this.stallMs;
    this.backoffMs = options.backoffMs ?? 500;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
    this.userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.peer = options.peer ?? 'registry';
    this.onRequest = options.onRequest;
    this.agentMaySkipCertValidation = options.agentMaySkipCertValidation === true;
  }

  /** Sends the request; returns the last answer, whatever its status, or throws UNREACHABLE, STALLED or PROXY. */
  async send(request: Request): Promise<HttpResponse> {
    const host = new URL(request.url).host;
    const streaming = request.body instanceof Readable;
    const stalls = request.stalls ?? new StallBudget();
    const headers = { 'User-Agent': this.userAgent, ...request.headers };
    for (let attempt = 1; ; attempt++) {
      const last = streaming || attempt >= this.maxAttempts;
      let response: HttpResponse;
      try {
        response = await exchange(request.url, request.method, headers, request.body, {
          stallMs: this.stallMs,
          answerWaitMs: (sent) => this.answerWaitMs(sent, request.completesUpload),
          network: this.network,
          agentMaySkipCertValidation: this.agentMaySkipCertValidation,
        });
      } catch (err) {
        this.onRequest?.(request.method, request.url, undefined);
        // A stream body that failed its own check (a blob whose bytes do not match its digest, a
        // source that stalled) aborts the request; that error is the one to report, not a network one.
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
        const stall = stallBehind(err);
        if (stall) {
          if (!last && stalls.spend()) {
            await sleep(this.backoff(attempt));
            continue;
          }
          throw this.stalled(request, stall, attempt, stalls);
        }
        const code = networkCode(err);
        if (!last && RETRY_NETWORK_CODES.has(code)) {
          await sleep(this.backoff(attempt));
          continue;
        }
        throw unreachable(this.peer, host, code, err, attempt, this.network, new URL(request.url));
      }
      this.onRequest?.(request.method, request.url, response.status);
      response.attempts = attempt;
      if (last || !RETRY_STATUS.has(response.status)) return response;
      const retryAfter = retryAfterMs(response.headers.get('retry-after'));
      if (retryAfter !== undefined && retryAfter > this.maxRetryAfterMs) {
        response.refusedRetryAfterMs = retryAfter;
        return response;
      }
      await response.body?.cancel();
      await sleep(retryAfter ?? this.backoff(attempt));
    }
  }

  /**
   * An answer read whole: `send` sends the request (signed, redirects followed, as its caller
   * does), and a success's body is read up to `limit`. A body lost midway (the connection dropped
   * or stalled, or the body was cut short) is asked for again, as the request itself would be when
   * no answer came: attempts and stalls are bounded as for one request.
   */
  async readWhole(send: Sender, limit: BodyLimit, stalls = new StallBudget()): Promise<WholeAnswer> {
    for (let attempt = 1; ; attempt++) {
      const response = await send(stalls);
      if (!response.ok || response.body === null) return { response };
      try {
        return { response, body: await readBodyUpTo(response, limit) };
      } catch (err) {
        if (isDigestReleaseError(err)) throw err;
        const stall = stallBehind(err);
        const again = attempt < this.maxAttempts && (stall !== undefined ? stalls.spend() : !stalls.exhausted && isLostBody(err));
        if (!again) throw lostAnswer(this.peer, response, err, response.received, { stallMs: this.stallMs, attempts: attempt, network: this.network });
        await sleep(this.backoff(attempt));
      }
    }
  }

  /** How long the answer may take once `sent` bytes of a request went out (see ANSWER_BYTES_PER_SECOND). */
  private answerWaitMs(sent: number, completesUpload: number | undefined): number {
    return this.timeoutMs + Math.ceil((Math.max(sent, completesUpload ?? 0) / ANSWER_BYTES_PER_SECOND) * 1000);
  }

  private stalled(request: Request, stall: StallError, attempts: number, stalls: StallBudget): DigestReleaseError {
    const url = new URL(request.url);
    if (stall.phase === 'connect') {
      return unreachable(this.peer, url.host, 'StallError', stall, attempts, this.network, url, `it did not take a connection within ${seconds(stall.waitedMs)}`);
    }
    return stallError(this.peer, { method: request.method, url: request.url }, stall, {
      stallMs: this.stallMs,
      attempts,
      gaveUp: stalls.exhausted,
      network: this.network,
      ...(request.body !== undefined && !(request.body instanceof Readable) ? { total: typeof request.body === 'string' ? Buffer.byteLength(request.body) : request.body.byteLength } : {}),
      ...(request.completesUpload !== undefined ? { total: request.completesUpload } : {}),
    });
  }

  private backoff(attempt: number): number {
    return backoffDelay(this.backoffMs, attempt);
  }
}

/** A body that broke off: the connection was reset or closed before the body was complete. */
function isLostBody(err: unknown): boolean {
  const code = networkCode(err);
  return LOST_BODY_CODES.has(code) || code.startsWith('HPE_') || (err instanceof Error && err.message === 'aborted');
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** `GET /v2/app/manifests/1.0`: a request as messages name it (no query: upload sessions and signatures are noise). */
export function requestName(request: SentRequest): string {
  const url = new URL(request.url);
  return `${request.method} ${url.pathname}`;
}

/** What to check after a stall, and the setting that says how long a silence is one. */
function stallAdvice(host: string, stallMs: number, network: Network, url: URL): string {
  const proxy = network.proxyFor(url);
  return (
    `Check the network between the agent and ${host}${proxy ? ` (and the agent's proxy ${proxyName(proxy)})` : ''} and the health of the registry, then run again; ` +
    `how long a silence counts as a stall is the pipeline variable ${STALL_VARIABLE} (${seconds(stallMs)} now).`
  );
}

export interface StallContext {
  readonly stallMs: number;
  readonly attempts: number;
  /** The operation stalled once too often: it is not tried again. */
  readonly gaveUp?: boolean;
  /** The request's body size, when known. */
  readonly total?: number;
  readonly network?: Network;
}

/** The STALLED error for a request whose sending or answer stalled: the peer, the request, how far it got. */
export function stallError(peer: string, request: SentRequest, stall: StallError, context: StallContext): DigestReleaseError {
  const url = new URL(request.url);
  const of = context.total === undefined ? '' : ` of ${context.total}`;
  const what =
    stall.phase === 'answer'
      ? `did not answer ${requestName(request)} within ${seconds(stall.waitedMs)} of receiving it${stall.bytesSent > 0 ? ` (${stall.bytesSent} bytes)` : ''}`
      : stall.phase === 'body'
        ? `stopped sending its answer to ${requestName(request)}: nothing came for ${seconds(stall.waitedMs)}`
        : `stopped taking the request ${requestName(request)} after ${stall.bytesSent}${of} bytes: nothing moved for ${seconds(stall.waitedMs)}`;
  return new DigestReleaseError('STALLED', `The ${peer} ${url.host} ${what}.${triesText(context)} ${stallAdvice(url.host, context.stallMs, context.network ?? DIRECT_NETWORK, url)}`, { cause: stall, host: url.host });
}

function triesText(context: { readonly attempts: number; readonly gaveUp?: boolean }): string {
  if (context.gaveUp) return ' It stalled twice, so it was not tried again.';
  return context.attempts > 1 ? ` It was tried ${context.attempts} times.` : '';
}

export interface LostContext {
  readonly stallMs: number;
  /** Attempts made at it, when the caller counts them. */
  readonly attempts?: number;
  readonly network?: Network;
  /** What was being sent, for the message ("the blob sha256:… in host/repo"); the request when not given. */
  readonly what?: string;
  /** The size the body should have; the answer's Content-Length when not given. */
  readonly size?: number;
}

/**
 * The error for an answer whose body was lost midway: it stalled (STALLED) or the connection
 * dropped (UNREACHABLE). Names the peer, what it was sending and how far it got.
 */
export function lostAnswer(peer: string, response: HttpResponse, err: unknown, received: number, context: LostContext): DigestReleaseError {
  const url = new URL(response.request.url);
  const what = context.what ?? `its answer to ${requestName(response.request)}`;
  const size = context.size ?? response.declaredLength;
  const of = size === undefined ? '' : ` of ${size}`;
  const tries = context.attempts !== undefined && context.attempts > 1 ? ` It was asked ${context.attempts} times.` : '';
  const stall = stallBehind(err);
  if (stall) {
    return new DigestReleaseError(
      'STALLED',
      `The ${peer} ${url.host} stopped sending ${what} after ${received}${of} bytes: nothing came for ${seconds(stall.waitedMs)}.${tries} ${stallAdvice(url.host, context.stallMs, context.network ?? DIRECT_NETWORK, url)}`,
      { cause: err, host: url.host },
    );
  }
  const code = networkCode(err);
  const why = code === 'UNKNOWN' ? messageOf(err) : code;
  return new DigestReleaseError(
    'UNREACHABLE',
    `The ${peer} ${url.host} dropped the connection while sending ${what}, after ${received}${of} bytes (${why}).${tries} ` +
      `Nothing of it is kept; if it keeps happening, check the network between the agent and ${url.host}.`,
    { cause: err, host: url.host },
  );
}

/**
 * What an answer that was retried, or refused a retry, adds to the error of its caller: how often
 * the peer answered so, and what to do. Empty for an answer that was not retried.
 */
export function retriesNote(response: HttpResponse): string {
  if (response.refusedRetryAfterMs !== undefined) {
    return ` It asked to be asked again in ${seconds(response.refusedRetryAfterMs)} (Retry-After), longer than a task waits: run again later.`;
  }
  if (!RETRY_STATUS.has(response.status) || response.attempts < 2) return '';
  return ` It answered so to all ${response.attempts} attempts: it is failing or overloaded. Check its health (or status page), then run again.`;
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
export function unreachable(peer: string, host: string, code: string, err: unknown, attempts: number, network: Network = DIRECT_NETWORK, url?: URL, reason?: string): DigestReleaseError {
  const proxy = url === undefined ? undefined : network.proxyFor(url);
  const caFile = network.settings.caFile;
  let why: string;
  if (reason !== undefined) why = reason;
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    why = `the host name "${host.replace(/:\d+$/, '')}" could not be resolved; check the ${peer} name`;
    // Behind a proxy only the proxy may resolve outside names: a host that bypassed it must resolve here.
    if (network.settings.proxy !== undefined && proxy === undefined) why += `, and whether it should go through the agent's proxy (it matches the bypass list, Agent.ProxyBypassList, or is a loopback or link-local address)`;
  } else if (code === 'ECONNREFUSED') why = `the connection was refused; check the host and port, and that the ${peer} is running`;
  else if (code.includes('TIMEOUT') || code === 'ETIMEDOUT') why = 'it did not answer in time';
  else if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|SSL/.test(code)) {
    why =
      caFile !== undefined
        ? `its TLS certificate was not accepted (${code}): it is not signed by an authority the agent trusts (the system's, and Agent.CAInfo "${caFile}"); if the ${peer} uses another private CA, add it to the agent's CA file`
        : `its TLS certificate was not accepted (${code}); if the ${peer} uses a private CA, configure the agent with it (./config.sh --sslcacert, which tasks read as Agent.CAInfo) or point NODE_EXTRA_CA_CERTS at the CA file in the agent's environment`;
    if (network.settings.skipCertValidation) why += '; Agent.SkipCertValidation applies only to Azure DevOps, never to registries, Entra ID or Resource Manager';
  } else why = code === 'UNKNOWN' ? innermostMessage(err) : code;
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  const via = proxy !== undefined ? ` through the agent's proxy ${proxyName(proxy)}` : '';
  return new DigestReleaseError('UNREACHABLE', `Could not reach the ${peer} ${host}${via}${tries}: ${why}.`, { cause: err, host });
}
