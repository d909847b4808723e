import { ClientRequest, IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { DIRECT_NETWORK, Network } from '../http/network';
import { refusal } from '../http/tunnel';

// One HTTP/1.1 exchange over node:http(s), and the answer as a small object with the parts of the
// fetch Response the registry layer reads. Not fetch: Node 20's fetch (undici) compiles its WASM
// parser on first use, about 100 ms of a task's start-up, and moves bodies through web streams,
// which cost a copy per chunk and held about 100 MB more for a 200 MB promotion than Node streams
// with backpressure. Which connection a request takes (straight, or through the agent's proxy) and
// which authorities it trusts is the Network's business (http/network.ts).

export interface ExchangeOptions {
  /** Time allowed for the answer's headers; none when undefined. */
  readonly headersTimeoutMs?: number;
  /** Time a connection may sit idle (no byte sent or received) before it is dropped. */
  readonly idleTimeoutMs: number;
  /** The agent's proxy and trust; none (Node's defaults) unless given. */
  readonly network?: Network;
  /** Azure DevOps only: the agent's Agent.SkipCertValidation applies (see Network.route). */
  readonly agentMaySkipCertValidation?: boolean;
  /** Aborts the request (an SDK's cancellation); rejects with an AbortError. */
  readonly signal?: AbortSignalLike;
}

/** What an AbortSignal offers that exchange needs (the Azure SDK's AbortSignalLike). */
export interface AbortSignalLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export type ExchangeBody = string | Uint8Array | Readable;

export interface ResponseHeaders {
  /** The header's value, several joined with ", " as fetch does; null when absent. */
  get(name: string): string | null;
}

export interface ResponseBody {
  /** Drops what is left of the body. */
  cancel(): Promise<void>;
}

/** Bodies up to this size are read to the end when dropped, so the connection is kept for reuse. */
const DRAIN_LIMIT = 256 * 1024;
const NO_BODY_STATUS = new Set([204, 205, 304]);

export class HttpResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: ResponseHeaders;
  /** Null when the answer has no body (HEAD, 204, 304), as with fetch. */
  readonly body: ResponseBody | null;
  private readonly message: IncomingMessage;
  private taken = false;

  constructor(message: IncomingMessage, method: string) {
    this.message = message;
    this.status = message.statusCode ?? 0;
    this.ok = this.status >= 200 && this.status < 300;
    const raw = message.headers;
    this.headers = {
      get(name) {
        const value = raw[name.toLowerCase()];
        if (value === undefined) return null;
        return Array.isArray(value) ? value.join(', ') : value;
      },
    };
    // A connection lost after the headers errors the body for whoever reads it; unread, it is no crash.
    message.on('error', () => undefined);
    const empty = method === 'HEAD' || NO_BODY_STATUS.has(this.status);
    if (empty) message.resume();
    this.body = empty ? null : { cancel: () => this.cancel() };
  }

  /** Every header, names in lower case, several values joined as headers.get() joins them. */
  headerEntries(): [string, string][] {
    return Object.keys(this.message.headers).map((name) => [name, this.headers.get(name) ?? '']);
  }

  /** The body as a Node stream; read once. */
  stream(): Readable {
    this.take();
    return this.message;
  }

  // arrayBuffer, bytes, text and json read the whole body, however long: for tests. What a peer
  // sends is read with bytesUpTo, through registry/bounded.ts, with a limit for its kind.

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.bytes();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  async bytes(): Promise<Buffer> {
    this.take();
    const chunks: Buffer[] = [];
    for await (const chunk of this.message) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /**
   * The body, or undefined as soon as it passes `limit` bytes: what a registry sends without a
   * Content-Length is read only as far as the limit, and the connection is cut there.
   */
  async bytesUpTo(limit: number): Promise<Buffer | undefined> {
    this.take();
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of this.message) {
      total += (chunk as Buffer).byteLength;
      if (total > limit) {
        this.message.destroy();
        return undefined;
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks, total);
  }

  async text(): Promise<string> {
    return (await this.bytes()).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }

  private take(): void {
    if (this.taken) throw new TypeError('The body of this answer was already read.');
    this.taken = true;
  }

  private async cancel(): Promise<void> {
    if (this.taken) return;
    this.taken = true;
    const message = this.message;
    if (message.destroyed) return;
    // What has come in, or a small rest, is read and dropped, so the connection is back in the
    // pool before the next request asks for one; a large rest (a blob) is cut.
    const length = Number(message.headers['content-length']);
    if (!message.complete && !(Number.isFinite(length) && length <= DRAIN_LIMIT)) {
      message.destroy();
      return;
    }
    await new Promise<void>((resolve) => {
      message.once('close', resolve);
      message.resume();
    });
  }
}

/**
 * Sends one request and resolves with the answer once its headers are in. Rejects with the
 * socket's error (its `code` says what happened), with a TimeoutError when the headers did not
 * come in time, or with the body stream's own error when a streamed body failed.
 */
export function exchange(url: string, method: string, headers: Record<string, string>, body: ExchangeBody | undefined, options: ExchangeOptions): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    const target = new URL(url);
    const outgoing: Record<string, string> = { ...headers };
    if (!hasHeader(outgoing, 'content-length')) {
      if (typeof body === 'string') outgoing['Content-Length'] = String(Buffer.byteLength(body));
      else if (body instanceof Uint8Array) outgoing['Content-Length'] = String(body.byteLength);
      else if (body === undefined && (method === 'POST' || method === 'PUT' || method === 'PATCH')) outgoing['Content-Length'] = '0';
    }
    let settled = false;
    let headersTimer: NodeJS.Timeout | undefined;
    const signal = options.signal;
    const onAbort = (): void => {
      req.destroy(abortError());
    };
    const fail = (err: unknown): void => {
      if (headersTimer) clearTimeout(headersTimer);
      signal?.removeEventListener('abort', onAbort);
      if (settled) return;
      settled = true;
      reject(err);
    };
    if (signal?.aborted) {
      fail(abortError());
      return;
    }
    const route = (options.network ?? DIRECT_NETWORK).route(target, { agentMaySkipCertValidation: options.agentMaySkipCertValidation === true });
    let req: ClientRequest;
    if (route.kind === 'forward') {
      // Plain http through the proxy: the whole URL in the request line, the target in Host.
      const proxy = route.proxy.url;
      const headers = { ...outgoing, Host: target.host, ...(route.authorization ? { 'Proxy-Authorization': route.authorization } : {}) };
      const at = { hostname: proxy.hostname.replace(/^\[(.*)\]$/, '$1'), port: proxy.port || (proxy.protocol === 'https:' ? 443 : 80), path: target.href };
      req = (proxy.protocol === 'https:' ? httpsRequest : httpRequest)({ ...at, method, headers, agent: route.agent });
    } else {
      req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, { method, headers: outgoing, agent: route.agent });
    }
    req.on('error', fail);
    signal?.addEventListener('abort', onAbort);
    req.on('close', () => signal?.removeEventListener('abort', onAbort));
    req.setTimeout(options.idleTimeoutMs, () => req.destroy(timeoutError()));
    if (options.headersTimeoutMs !== undefined) headersTimer = setTimeout(() => req.destroy(timeoutError()), options.headersTimeoutMs);
    req.on('response', (message) => {
      if (headersTimer) clearTimeout(headersTimer);
      if (settled) {
        message.destroy();
        return;
      }
      settled = true;
      if (route.kind === 'forward' && message.statusCode === 407) {
        // The proxy's answer, not the host's: its credentials were refused.
        message.resume();
        const headers = new Map(Object.entries(message.headers).map(([name, value]) => [name, Array.isArray(value) ? value : [String(value)]]));
        reject(refusal(route.proxy, target.host, 407, message.statusMessage ?? '', headers));
        return;
      }
      resolve(new HttpResponse(message, method));
    });
    if (body instanceof Readable) {
      // The body's own failure (a blob that does not hash to its digest) aborts the request, so
      // the server never sees a complete body, and is the error reported.
      body.on('error', (err) => req.destroy(err));
      req.on('close', () => {
        if (!body.readableEnded) body.destroy();
      });
      body.pipe(req);
    } else {
      req.end(body);
    }
  });
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}

function abortError(): Error {
  const err = new Error('The operation was aborted.');
  err.name = 'AbortError';
  return err;
}

function timeoutError(): Error {
  const err = new Error('The operation timed out.');
  err.name = 'TimeoutError';
  return err;
}
