import { readFileSync } from 'node:fs';
import { createServer, Server } from 'node:https';
import { AddressInfo } from 'node:net';
import { TestCertificates } from './tls';

// A TLS proxy in front of a real registry that can rewrite answers on their way back: how a test
// shows that the task notices bytes that do not match what the registry claims.

export type Rewrite = (method: string, path: string, status: number, headers: Headers, body: Buffer) => Buffer;

export interface RunningProxy {
  readonly host: string;
  close(): Promise<void>;
}

/** An answer the proxy gives itself, without asking the registry. */
export interface CannedAnswer {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: Buffer;
}

export interface ProxyFaults {
  /** Answer a request here instead of the registry; undefined passes it on. */
  readonly intercept?: (method: string, path: string, headers: Record<string, string>) => Promise<CannedAnswer | undefined> | CannedAnswer | undefined;
  /** Send only this many bytes of the answer's body, then reset the connection; undefined sends all. */
  readonly cutAfter?: (method: string, path: string) => number | undefined;
  /** Sees every request as it arrives, headers included (a test checks where credentials went). */
  readonly onRequest?: (method: string, path: string, headers: Record<string, string>) => void;
}

export async function startProxy(upstream: string, certs: TestCertificates, rewrite: Rewrite, faults: ProxyFaults = {}): Promise<RunningProxy> {
  const server: Server = createServer({ cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string' && name !== 'host') headers[name] = value;
        faults.onRequest?.(req.method ?? 'GET', req.url ?? '/', headers);
        const canned = await faults.intercept?.(req.method ?? 'GET', req.url ?? '/', headers);
        if (canned) {
          res.writeHead(canned.status, { ...canned.headers, 'content-length': String(canned.body?.length ?? 0) });
          res.end(req.method === 'HEAD' ? undefined : canned.body);
          return;
        }
        const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
        const answer = await fetch(`${upstream}${req.url ?? '/'}`, {
          method: req.method ?? 'GET',
          headers,
          redirect: 'manual',
          ...(body && req.method !== 'GET' && req.method !== 'HEAD' ? { body } : {}),
        });
        const original = Buffer.from(await answer.arrayBuffer());
        const out = rewrite(req.method ?? 'GET', req.url ?? '/', answer.status, answer.headers, original);
        const outHeaders: Record<string, string> = {};
        answer.headers.forEach((value, name) => {
          if (name !== 'content-length' && name !== 'transfer-encoding' && name !== 'connection' && name !== 'content-encoding') outHeaders[name] = value;
        });
        outHeaders['content-length'] = String(req.method === 'HEAD' ? answer.headers.get('content-length') ?? '0' : out.length);
        res.writeHead(answer.status, outHeaders);
        const cut = req.method === 'HEAD' ? undefined : faults.cutAfter?.(req.method ?? 'GET', req.url ?? '/');
        if (cut !== undefined && cut < out.length) {
          res.write(out.subarray(0, cut), () => setTimeout(() => req.socket.destroy(), 20));
          return;
        }
        res.end(req.method === 'HEAD' ? undefined : out);
      })().catch((err: unknown) => {
        res.writeHead(502);
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
