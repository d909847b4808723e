import { Readable } from 'node:stream';
import { DigestReleaseError, isDigestReleaseError } from '../errors';
import type { BodyLimit } from './body-limit';
import { readBodyUpTo } from './body-limit';
import { lostAnswer, seconds, stallError, unreachable } from './failures';
import type { Network } from './network';
import { DIRECT_NETWORK } from './network';
import type { HttpResponse } from './response';
import { exchange } from './request';
import { RETRY_NETWORK_CODES, RETRY_STATUS, backoffDelay, isLostBody, networkCode, retryAfterMs, sleep } from './retry';
import { DEFAULT_STALL_MS } from './settings';
import type { StallError } from './stall';
import { stallBehind } from './stall';
import { ProxyError } from './tunnel';

// One HTTP request with bounded retries. Retried: 429 and 503 (after Retry-After), other 5xx,
// connection resets and stalls, with exponential backoff (the policy is in retry.ts). Not retried: refused connections,
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
          const transient =
            (err.status !== undefined && err.status >= 502 && err.status <= 504) ||
            (err.code !== undefined && RETRY_NETWORK_CODES.has(err.code));
          if (!last && transient) {
            await sleep(this.backoff(attempt));
            continue;
          }
          throw new DigestReleaseError('PROXY', `${err.message}${attempt > 1 ? ` (after ${attempt} attempts)` : ''}`, {
            cause: err,
            ...(err.status !== undefined ? { status: err.status } : {}),
          });
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
        const again =
          attempt < this.maxAttempts && (stall !== undefined ? stalls.spend() : !stalls.exhausted && isLostBody(err));
        if (!again)
          throw lostAnswer(this.peer, response, err, response.received, {
            stallMs: this.stallMs,
            attempts: attempt,
            network: this.network,
          });
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
      return unreachable(
        this.peer,
        url.host,
        'StallError',
        stall,
        attempts,
        this.network,
        url,
        `it did not take a connection within ${seconds(stall.waitedMs)}`,
      );
    }
    return stallError(this.peer, { method: request.method, url: request.url }, stall, {
      stallMs: this.stallMs,
      attempts,
      gaveUp: stalls.exhausted,
      network: this.network,
      ...(request.body !== undefined && !(request.body instanceof Readable)
        ? { total: typeof request.body === 'string' ? Buffer.byteLength(request.body) : request.body.byteLength }
        : {}),
      ...(request.completesUpload !== undefined ? { total: request.completesUpload } : {}),
    });
  }

  private backoff(attempt: number): number {
    return backoffDelay(this.backoffMs, attempt);
  }
}

function ownError(err: unknown): DigestReleaseError | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current instanceof DigestReleaseError) return current;
    current = current.cause;
  }
  return undefined;
}
