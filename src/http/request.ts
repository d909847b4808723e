import type { ClientRequest, IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { Network } from './network';
import { DIRECT_NETWORK } from './network';
import { StallError, Watchdog } from './stall';
import { refusal } from './tunnel';

// One HTTP/1.1 exchange over node:http(s), and the answer as a small object with the parts of the
// fetch Response the registry layer reads. Not fetch: Node 20's fetch (undici) compiles its WASM
// parser on first use, about 100 ms of a task's start-up, and moves bodies through web streams,
// which cost a copy per chunk and held about 100 MB more for a 200 MB promotion than Node streams
// with backpressure. Which connection a request takes (straight, or through the agent's proxy) and
// which authorities it trusts is the Network's business (http/network.ts).

export interface ExchangeOptions {
  /**
   * How long nothing may move while something should: connecting, the peer taking the request's
   * bytes, and the answer's body coming in (see http/stall.ts). Time spent waiting for our own
   * body's source, or for our own reader, does not count.
   */
  readonly stallMs: number;
  /**
   * How long the answer's headers may take once the whole request is sent, given how many body
   * bytes were sent; the stall time when not given.
   */
  readonly answerWaitMs?: (bytesSent: number) => number;
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
/** A request body is handed to the connection in slices of this size, so its progress is seen. */
const SLICE_BYTES = 64 * 1024;
/** A streamed request body is handed to the connection in corked windows of at most this size. */
const MAX_WINDOW_BYTES = 1024 * 1024;
/** The first and the smallest window: what one write of a body's chunks amounted to before windows. */
const MIN_WINDOW_BYTES = 64 * 1024;

/** The request an answer is to, for messages. */
export interface SentRequest {
  readonly method: string;
  readonly url: string;
}
const NO_BODY_STATUS = new Set([204, 205, 304]);

export class HttpResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: ResponseHeaders;
  /** Null when the answer has no body (HEAD, 204, 304), as with fetch. */
  readonly body: ResponseBody | null;
  /** The request this answers. */
  readonly request: SentRequest;
  /** Attempts the transport made before this answer (a 503 answered to every one: all of them). */
  attempts = 1;
  /** Set when the transport did not retry because Retry-After asked for longer than it waits. */
  refusedRetryAfterMs: number | undefined;
  /** Body bytes read so far through bytes() and bytesUpTo(). */
  received = 0;
  private readonly message: IncomingMessage;
  private taken = false;

  constructor(message: IncomingMessage, request: SentRequest, stallMs?: number) {
    this.message = message;
    this.request = request;
    const method = request.method;
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
    if (!empty && stallMs !== undefined) watchBody(message, stallMs);
  }

  /** The Content-Length the answer declares; undefined when it declares none. */
  get declaredLength(): number | undefined {
    const length = Number(this.message.headers['content-length']);
    return this.message.headers['content-length'] !== undefined && Number.isSafeInteger(length) && length >= 0
      ? length
      : undefined;
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
  // sends is read with bytesUpTo, through body-limit.ts, with a limit for its kind.

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.bytes();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  async bytes(): Promise<Buffer> {
    this.take();
    const chunks: Buffer[] = [];
    for await (const chunk of this.message) {
      this.received += (chunk as Buffer).byteLength;
      chunks.push(chunk as Buffer);
    }
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
      this.received = total;
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

/** The media type part of a Content-Type header, without parameters such as charset. */
export function bareMediaType(contentType: string | null): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * Sends one request and resolves with the answer once its headers are in. Rejects with the
 * socket's error (its `code` says what happened), with a StallError (http/stall.ts) when the
 * connection, the sending or the answer stalled, or with the body stream's own error when a
 * streamed body failed. A stall of the answer's body errors the body for its reader.
 */
export function exchange(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: ExchangeBody | undefined,
  options: ExchangeOptions,
): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    const target = new URL(url);
    const outgoing: Record<string, string> = { ...headers };
    if (!hasHeader(outgoing, 'content-length')) {
      if (typeof body === 'string') outgoing['Content-Length'] = String(Buffer.byteLength(body));
      else if (body instanceof Uint8Array) outgoing['Content-Length'] = String(body.byteLength);
      else if (body === undefined && (method === 'POST' || method === 'PUT' || method === 'PATCH'))
        outgoing['Content-Length'] = '0';
    }
    let settled = false;
    // Where the request is: connected, waiting for the peer to take bytes (blocked), handed over
    // whole to the connection (ended), sent (flushed); and how much of its body was handed over.
    let connected = false;
    let blocked = false;
    let ended = false;
    let sent = false;
    let bytesSent = 0;
    let answerTimer: NodeJS.Timeout | undefined;
    const signal = options.signal;
    const onAbort = (): void => {
      req.destroy(abortError());
    };
    const sending = new Watchdog(
      options.stallMs,
      () => !sent && (!connected || blocked || ended),
      (waited) => req.destroy(new StallError(connected ? 'send' : 'connect', waited, bytesSent)),
      () => sent || settled,
    );
    const stopWatching = (): void => {
      sending.stop();
      if (answerTimer) clearTimeout(answerTimer);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (err: unknown): void => {
      stopWatching();
      if (settled) return;
      settled = true;
      reject(err);
    };
    if (signal?.aborted) {
      fail(abortError());
      return;
    }
    const route = (options.network ?? DIRECT_NETWORK).route(target, {
      agentMaySkipCertValidation: options.agentMaySkipCertValidation === true,
    });
    let req: ClientRequest;
    if (route.kind === 'forward') {
      // Plain http through the proxy: the whole URL in the request line, the target in Host.
      const proxy = route.proxy.url;
      const headers = {
        ...outgoing,
        Host: target.host,
        ...(route.authorization ? { 'Proxy-Authorization': route.authorization } : {}),
      };
      const at = {
        hostname: proxy.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: proxy.port || (proxy.protocol === 'https:' ? 443 : 80),
        path: target.href,
      };
      req = (proxy.protocol === 'https:' ? httpsRequest : httpRequest)({ ...at, method, headers, agent: route.agent });
    } else {
      req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, {
        method,
        headers: outgoing,
        agent: route.agent,
      });
    }
    req.on('error', fail);
    signal?.addEventListener('abort', onAbort);
    req.on('close', () => stopWatching());
    req.on('socket', (socket: Socket) => {
      // A pooled connection is ready; a new one is once connected (and, for TLS, secured).
      if (!socket.connecting) connected = true;
      else {
        socket.once(socket instanceof TLSSocket ? 'secureConnect' : 'connect', () => {
          connected = true;
          sending.progress();
        });
      }
    });
    req.on('drain', () => sending.progress());
    req.on('finish', () => {
      // All of the request is with the connection: now the answer has its own deadline.
      sent = true;
      sending.stop();
      if (settled) return;
      const wait = options.answerWaitMs?.(bytesSent) ?? options.stallMs;
      answerTimer = setTimeout(() => req.destroy(new StallError('answer', wait, bytesSent)), wait);
    });
    req.on('response', (message) => {
      stopWatching();
      if (settled) {
        message.destroy();
        return;
      }
      settled = true;
      if (route.kind === 'forward' && message.statusCode === 407) {
        // The proxy's answer, not the host's: its credentials were refused.
        message.resume();
        const headers = new Map(
          Object.entries(message.headers).map(([name, value]) => [
            name,
            Array.isArray(value) ? value : [String(value)],
          ]),
        );
        reject(refusal(route.proxy, target.host, 407, message.statusMessage ?? '', headers));
        return;
      }
      resolve(new HttpResponse(message, { method, url }, options.stallMs));
    });
    sending.start();

    if (body instanceof Readable) {
      // Piped by hand, to know when the peer holds us up (a write that must wait for 'drain') and
      // when our own source does (no data): only the first is the peer's stall. The body's own
      // failure (a blob that does not hash to its digest, a source that stalled) aborts the
      // request, so the server never sees a complete body, and is the error reported.
      //
      // Chunks are written as they come (16 KiB TLS records from a source registry), but the
      // connection is corked and handed them a window at a time: one encryption run and one
      // system call per window instead of one per chunk, with nothing copied. After each window
      // the body waits for 'drain' if the peer has not taken it yet. The window starts small and
      // doubles, up to MAX_WINDOW_BYTES, while the peer takes each within an eighth of a stall
      // time, and halves when it does not: the peer's progress is seen window by window, so a
      // window must never take a slow but moving peer a stall time. end() uncorks the rest, and
      // destroy() drops a corked window unsent. A window is corked at its first chunk, not at the
      // end of the one before: a request whose connection comes while it waits for 'drain' would
      // hand its first window to a corked socket and wait for a 'drain' that never comes.
      let window = MIN_WINDOW_BYTES;
      let windowBytes = 0;
      let waitingSince = 0;
      body.on('data', (chunk: Buffer) => {
        bytesSent += chunk.byteLength;
        if (windowBytes === 0) req.cork();
        windowBytes += chunk.byteLength;
        req.write(chunk);
        if (windowBytes < window) return;
        windowBytes = 0;
        req.uncork();
        if (req.writableNeedDrain) {
          blocked = true;
          waitingSince = Date.now();
          body.pause();
        } else window = Math.min(MAX_WINDOW_BYTES, window * 2);
      });
      req.on('drain', () => {
        if (!blocked) return;
        blocked = false;
        const took = Date.now() - waitingSince;
        window =
          took <= options.stallMs / 8 ? Math.min(MAX_WINDOW_BYTES, window * 2) : Math.max(MIN_WINDOW_BYTES, window / 2);
        body.resume();
      });
      body.once('end', () => {
        ended = true;
        req.end();
      });
      body.on('error', (err) => req.destroy(err));
      req.on('close', () => {
        if (!body.readableEnded) body.destroy();
      });
    } else {
      const bytes = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      let offset = 0;
      const more = (): void => {
        blocked = false;
        while (bytes !== undefined && offset < bytes.byteLength) {
          const slice = bytes.subarray(offset, offset + SLICE_BYTES);
          offset += slice.byteLength;
          bytesSent += slice.byteLength;
          if (!req.write(slice)) {
            blocked = true;
            req.once('drain', more);
            return;
          }
        }
        ended = true;
        req.end();
      };
      more();
    }
  });
}

/**
 * Watches an answer's body: while its reader wants more (the body's buffer is not full) and the
 * connection brings nothing for `stallMs`, the body is destroyed with a StallError.
 */
function watchBody(message: IncomingMessage, stallMs: number): void {
  const socket = message.socket;
  if (!socket || message.complete) return;
  const watchdog = new Watchdog(
    stallMs,
    () => message.readableLength < message.readableHighWaterMark,
    (waited) => message.destroy(new StallError('body', waited, 0)),
    () => message.complete || message.destroyed,
  );
  const onData = (): void => watchdog.progress();
  socket.on('data', onData);
  const stop = (): void => {
    watchdog.stop();
    socket.removeListener('data', onData);
  };
  message.once('end', stop);
  message.once('close', stop);
  watchdog.start();
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}

function abortError(): Error {
  const err = new Error('The operation was aborted.');
  err.name = 'AbortError';
  return err;
}
