import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { StallError, Watchdog } from './stall';

// The answer to one exchange (request.ts) as a small object with the parts of the fetch Response
// the registry layer reads: status, headers, and a body that is a Node stream, read once, whose
// stalls error it for its reader and which, when dropped, is drained if small so the connection is
// kept for the next request.

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
