import type { ClientRequest } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { Network } from './network';
import { DIRECT_NETWORK } from './network';
import { StallError, Watchdog } from './stall';
import { refusal } from './tunnel';
import { HttpResponse } from './response';

// One HTTP/1.1 exchange over node:http(s); the answer is an HttpResponse (response.ts), with the parts of the
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

/** A request body is handed to the connection in slices of this size, so its progress is seen. */
const SLICE_BYTES = 64 * 1024;
/** A streamed request body is handed to the connection in corked windows of at most this size. */
const MAX_WINDOW_BYTES = 1024 * 1024;
/** The first and the smallest window: what one write of a body's chunks amounted to before windows. */
const MIN_WINDOW_BYTES = 64 * 1024;

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

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}

function abortError(): Error {
  const err = new Error('The operation was aborted.');
  err.name = 'AbortError';
  return err;
}
