import type {
  HttpClient,
  HttpHeaders,
  PipelineRequest,
  PipelineResponse,
  RawHttpHeaders,
} from '@azure/core-rest-pipeline';
import { Readable } from 'node:stream';
import type * as Zlib from 'node:zlib';
import { DigestReleaseError } from '../errors';
import type { Network } from './network';
import { DEFAULT_STALL_MS } from './settings';
import { StallError } from './stall';
import { ProxyError } from './tunnel';
import type { HttpResponse } from './response';
import { exchange } from './request';
import { stallError, unreachable } from './failures';

// The HTTP client @azure/identity signs in with (its `httpClient` option, which it also hands to
// MSAL): the task's own connections, so Entra ID, the Azure DevOps OIDC endpoint and a host's
// managed identity endpoint are reached the way every other request of the task is, through the
// agent's proxy unless bypassed, trusting Agent.CAInfo. Left alone, the SDK would take the
// HTTPS_PROXY of the environment and Node's default trust instead. Only types come from the SDK:
// this file is in every task bundle, the SDK is loaded only when a token is needed.

/** A token answer is a few KiB; an error page perhaps more. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export function sdkHttpClient(network: Network, peer = 'Microsoft Entra ID endpoint'): HttpClient {
  return {
    async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
      const headers: Record<string, string> = {};
      for (const [name, value] of request.headers) {
        // Answers come uncompressed; a token answer is small.
        if (name.toLowerCase() !== 'accept-encoding') headers[name] = value;
      }
      let response: HttpResponse;
      try {
        // The Transport's stall rule; the SDK's own time-out, when it sets one, for the answer.
        response = await exchange(request.url, request.method, headers, bodyOf(request), {
          stallMs: network.settings.stallMs ?? DEFAULT_STALL_MS,
          ...(request.timeout > 0 ? { answerWaitMs: () => request.timeout } : {}),
          network,
          ...(request.abortSignal ? { signal: request.abortSignal } : {}),
        });
      } catch (err) {
        throw sendError(err, request, network, peer);
      }
      const responseHeaders = new SdkHeaders(response.headerEntries());
      if (request.streamResponseStatusCodes?.has(response.status) && response.body !== null) {
        return { request, status: response.status, headers: responseHeaders, readableStreamBody: response.stream() };
      }
      let bodyAsText: string | null = null;
      if (response.body !== null) {
        let bytes: Buffer | undefined;
        try {
          bytes = await response.bytesUpTo(MAX_BODY_BYTES);
        } catch (err) {
          // A body that stalled or broke off: said the way a failed send is, for the SDK to retry.
          throw sendError(err, request, network, peer);
        }
        if (bytes === undefined)
          throw restError(
            `${peer} ${new URL(request.url).host} sent an answer of more than ${MAX_BODY_BYTES} bytes to ${request.method} ${new URL(request.url).pathname}.`,
            'REQUEST_SEND_ERROR',
            request,
          );
        bodyAsText = decoded(bytes, response.headers.get('content-encoding')).toString('utf8');
      }
      return { request, status: response.status, headers: responseHeaders, bodyAsText };
    },
  };
}

function bodyOf(request: PipelineRequest): string | Uint8Array | Readable | undefined {
  let body: unknown = request.body;
  if (typeof body === 'function') body = (body as () => unknown)();
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof Readable) return body;
  // Entra ID, OIDC and managed identity requests are forms and JSON as strings.
  throw restError(
    `A request body of this kind (${Object.prototype.toString.call(body)}) is not sent by this task's HTTP client.`,
    'REQUEST_SEND_ERROR',
    request,
  );
}

function decoded(bytes: Buffer, encoding: string | null): Buffer {
  const kind = (encoding ?? '').trim().toLowerCase();
  if (kind !== 'gzip' && kind !== 'deflate' && kind !== 'br') return bytes;
  // Loaded here, not with the module: this client is built at every start-up, and zlib (about 1 ms
  // to load) is needed only by an Entra ID answer that comes compressed.
  const zlib: typeof Zlib = require('node:zlib');
  if (kind === 'gzip') return zlib.gunzipSync(bytes);
  if (kind === 'deflate') return zlib.inflateSync(bytes);
  return zlib.brotliDecompressSync(bytes);
}

/**
 * A failed send as the SDK expects it (a RestError: its retry policy looks at `code`), with the
 * task's own words for what went wrong: the proxy's refusal, or the host that could not be reached.
 */
function sendError(err: unknown, request: PipelineRequest, network: Network, peer: string): Error {
  if (err instanceof Error && err.name === 'AbortError') return err;
  const url = new URL(request.url);
  if (err instanceof ProxyError) return restError(err.message, err.code ?? 'REQUEST_SEND_ERROR', request, err);
  if (err instanceof DigestReleaseError) return restError(err.message, 'REQUEST_SEND_ERROR', request, err);
  if (err instanceof StallError) {
    const stallMs = network.settings.stallMs ?? DEFAULT_STALL_MS;
    const failure =
      err.phase === 'connect'
        ? unreachable(peer, url.host, 'ETIMEDOUT', err, 1, network, url)
        : stallError(peer, { method: request.method, url: request.url }, err, { stallMs, attempts: 1, network });
    return restError(failure.message, 'ETIMEDOUT', request, err);
  }
  const code = networkCodeOf(err);
  return restError(
    unreachable(peer, url.host, code, err, 1, network, url).message,
    code === 'UNKNOWN' ? 'REQUEST_SEND_ERROR' : code,
    request,
    err,
  );
}

function networkCodeOf(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'UNKNOWN';
}

function restError(message: string, code: string, request: PipelineRequest, cause?: unknown): Error {
  const err = new Error(message, cause === undefined ? undefined : { cause }) as Error & {
    code: string;
    request: PipelineRequest;
  };
  err.name = 'RestError';
  err.code = code;
  err.request = request;
  return err;
}

/** The SDK's HttpHeaders over the answer's headers. */
class SdkHeaders implements HttpHeaders {
  private readonly map = new Map<string, { name: string; value: string }>();

  constructor(entries: readonly [string, string][]) {
    for (const [name, value] of entries) this.set(name, value);
  }

  get(name: string): string | undefined {
    return this.map.get(name.toLowerCase())?.value;
  }

  has(name: string): boolean {
    return this.map.has(name.toLowerCase());
  }

  set(name: string, value: string | number | boolean): void {
    this.map.set(name.toLowerCase(), { name, value: String(value) });
  }

  delete(name: string): void {
    this.map.delete(name.toLowerCase());
  }

  toJSON(options: { preserveCase?: boolean } = {}): RawHttpHeaders {
    const out: RawHttpHeaders = {};
    for (const [key, { name, value }] of this.map) out[options.preserveCase ? name : key] = value;
    return out;
  }

  *[Symbol.iterator](): Iterator<[string, string]> {
    for (const { name, value } of this.map.values()) yield [name, value];
  }
}
