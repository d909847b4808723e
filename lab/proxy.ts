import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:https';
import { createServer, request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { endlessBody } from './endless';
import type { TestCertificates } from './tls';

// A TLS proxy in front of a real registry (or the ACR front) that can misbehave on the way: rewrite
// answers (tampering), and play every fault a network or a broken registry shows a pipeline:
// answer by itself (429, 503, redirects, token garbage), never answer, stop taking a request body,
// stall or break off an answer's body, lie in Content-Length, send an endless body. Requests and
// answers are held whole in memory (test images are small), so each fault acts on exact bytes.

export type Rewrite = (method: string, path: string, status: number, headers: Headers, body: Buffer) => Buffer;

export interface RunningProxy {
  readonly host: string;
  /** Every request that arrived, in order. */
  readonly requests: readonly ProxiedRequest[];
  close(): Promise<void>;
}

export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The fault the proxy played on it; undefined when it passed it on as it was. */
  readonly fault: Fault['kind'] | undefined;
}

/** An answer the proxy gives itself, without asking the registry. */
export interface CannedAnswer {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: Buffer;
}

/** What the proxy does with one request. */
export type Fault =
  /** Answer it alone (a 429 with Retry-After, a 503, a redirect, garbage where a token should be). */
  | { readonly kind: 'answer'; readonly answer: CannedAnswer }
  /** Take the request whole, then never answer. */
  | { readonly kind: 'no-answer' }
  /** Stop reading the request's body after `after` bytes (the peer's window shuts); never answer. */
  | { readonly kind: 'stop-taking'; readonly after: number }
  /** Break the connection while the request's body comes, after `after` bytes. */
  | { readonly kind: 'reset-taking'; readonly after: number }
  /**
   * Pass it on, and answer `ms` after the request's body has come in (a registry that thinks after
   * an upload); the time the upstream took counts towards it, so a loaded machine does not add to it.
   */
  | { readonly kind: 'late'; readonly ms: number }
  /** Pass it on; send the answer's headers and `after` bytes of its body, then nothing more. */
  | { readonly kind: 'stall-body'; readonly after: number }
  /** Pass it on; send the headers and `after` bytes, then reset the connection (RST). */
  | { readonly kind: 'reset-body'; readonly after: number }
  /** Pass it on; send the headers and `after` bytes, then close the connection (FIN). */
  | { readonly kind: 'truncate-body'; readonly after: number }
  /** Pass it on with a Content-Length `delta` bytes off the body's true length. */
  | { readonly kind: 'wrong-length'; readonly delta: number }
  /** Pass it on with its body changed (one byte flipped, or what `change` makes of it). */
  | { readonly kind: 'tamper'; readonly change?: (body: Buffer) => Buffer }
  /** Answer 200 with a chunked body that does not end. */
  | { readonly kind: 'endless' };

export interface ProxyFaults {
  /** Answer a request here instead of the registry; undefined passes it on. */
  readonly intercept?: (
    method: string,
    path: string,
    headers: Record<string, string>,
  ) => Promise<CannedAnswer | undefined> | CannedAnswer | undefined;
  /** Send only this many bytes of the answer's body, then reset the connection; undefined sends all. */
  readonly cutAfter?: (method: string, path: string) => number | undefined;
  /** Sees every request as it arrives, headers included (a test checks where credentials went). */
  readonly onRequest?: (method: string, path: string, headers: Record<string, string>) => void;
  /** The fault to play on a request, decided when it arrives; undefined passes it on. */
  readonly fault?: (method: string, path: string, headers: Record<string, string>) => Fault | undefined;
  /** Headers added to every request passed on (a grant the proxy holds, as a pre-signed storage URL does). */
  readonly upstreamHeaders?: Record<string, string>;
}

/** `upstream` may be given late (a front that must know the proxy's address first). */
export async function startProxy(
  upstream: string | (() => string),
  certs: TestCertificates,
  rewrite: Rewrite = (_m, _p, _s, _h, body) => body,
  faults: ProxyFaults = {},
): Promise<RunningProxy> {
  const ca = readFileSync(certs.caFile);
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer(
    { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) },
    (req, res) => {
      const method = req.method ?? 'GET';
      const path = req.url ?? '/';
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers))
        if (typeof value === 'string' && name !== 'host') headers[name] = value;
      faults.onRequest?.(method, path, headers);
      const fault = faults.fault?.(method, path, headers);
      requests.push({ method, path, headers, fault: fault?.kind });
      if (fault?.kind === 'stop-taking' || fault?.kind === 'reset-taking') {
        let taken = 0;
        req.on('data', (chunk: Buffer) => {
          taken += chunk.byteLength;
          if (taken < fault.after) return;
          if (fault.kind === 'stop-taking') req.pause();
          else resetConnection(req.socket);
        });
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const received = Date.now();
        void answer(
          method,
          path,
          headers,
          chunks.length > 0 ? Buffer.concat(chunks) : undefined,
          fault,
          req,
          res,
          received,
        ).catch((err: unknown) => {
          if (!res.headersSent) res.writeHead(502);
          res.end(String(err));
        });
      });
    },
  );
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  const answer = async (
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    fault: Fault | undefined,
    req: IncomingMessage,
    res: ServerResponse,
    received: number,
  ): Promise<void> => {
    if (fault?.kind === 'no-answer') return;
    if (fault?.kind === 'endless') {
      endlessBody().send(res, 200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
      return;
    }
    const canned = fault?.kind === 'answer' ? fault.answer : await faults.intercept?.(method, path, headers);
    if (canned) {
      res.writeHead(canned.status, { ...canned.headers, 'content-length': String(canned.body?.length ?? 0) });
      res.end(method === 'HEAD' ? undefined : canned.body);
      return;
    }
    // A request with a body (an upload) is tampered on its way in; any other, on its way out.
    const tamper = (bytes: Buffer): Buffer =>
      fault?.kind === 'tamper' ? (fault.change ?? flipLastByte)(bytes) : bytes;
    const inbound = body !== undefined && body.length > 0;
    const passed = await pass(
      typeof upstream === 'string' ? upstream : upstream(),
      method,
      path,
      { ...headers, ...faults.upstreamHeaders },
      inbound ? tamper(body) : body,
      ca,
    );
    let out = rewrite(method, path, passed.status, passed.headers, passed.body);
    if (!inbound && out.length > 0) out = tamper(out);
    const outHeaders: Record<string, string> = {};
    passed.headers.forEach((value, name) => {
      if (!['content-length', 'transfer-encoding', 'connection', 'content-encoding', 'keep-alive'].includes(name))
        outHeaders[name] = value;
    });
    const head = method === 'HEAD';
    const length = head ? Number(passed.headers.get('content-length') ?? '0') : out.length;
    outHeaders['content-length'] = String(fault?.kind === 'wrong-length' ? length + fault.delta : length);
    if (fault?.kind === 'late')
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, fault.ms - (Date.now() - received))));
    if (head) {
      res.writeHead(passed.status, outHeaders).end();
      return;
    }
    const cut = faults.cutAfter?.(method, path);
    if (cut !== undefined && cut < out.length) {
      res.writeHead(passed.status, outHeaders);
      res.write(out.subarray(0, cut), () => setTimeout(() => req.socket.destroy(), 20));
      return;
    }
    if (fault?.kind === 'stall-body' || fault?.kind === 'reset-body' || fault?.kind === 'truncate-body') {
      res.writeHead(passed.status, outHeaders);
      const after = Math.min(fault.after, Math.max(0, out.length - 1));
      res.write(out.subarray(0, after), () => {
        if (fault.kind === 'reset-body') setTimeout(() => resetConnection(req.socket), 20);
        else if (fault.kind === 'truncate-body') setTimeout(() => req.socket.end(), 20);
      });
      return;
    }
    if (fault?.kind === 'wrong-length' && fault.delta > 0) {
      // More declared than sent: the rest never comes on a connection that stays open.
      res.writeHead(passed.status, outHeaders);
      res.write(out);
      return;
    }
    if (fault?.kind === 'wrong-length' && fault.delta < 0) {
      // Less declared than sent: the whole body goes out anyway, in one piece with the headers.
      res.socket?.write(rawHead(passed.status, outHeaders));
      res.socket?.write(out);
      return;
    }
    res.writeHead(passed.status, outHeaders).end(out);
  };

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

interface PassedAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
}

/** The request passed on to `upstream` as it came (redirects not followed), and its answer whole. */
function pass(
  upstream: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
  ca: Buffer,
): Promise<PassedAnswer> {
  return new Promise((resolve, reject) => {
    const out = { ...headers };
    for (const name of ['connection', 'keep-alive', 'transfer-encoding']) delete out[name];
    if (body !== undefined) out['content-length'] = String(body.length);
    const req = httpsRequest(new URL(path, upstream), { method, headers: out, ca }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 502, headers: headersOf(res.headers), body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function headersOf(raw: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
  }
  return headers;
}

function rawHead(status: number, headers: Record<string, string>): string {
  return `HTTP/1.1 ${status} X\r\n${Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}\r\n`;
}

/** Resets the TCP connection under a TLS one (RST, not a close). */
function resetConnection(socket: Socket): void {
  const raw = (socket as Socket & { _parent?: Socket })._parent ?? socket;
  try {
    raw.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

function flipLastByte(body: Buffer): Buffer {
  const copy = Buffer.from(body);
  copy[copy.length - 1] = copy[copy.length - 1]! ^ 1;
  return copy;
}
