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

export async function startProxy(upstream: string, certs: TestCertificates, rewrite: Rewrite): Promise<RunningProxy> {
  const server: Server = createServer({ cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string' && name !== 'host') headers[name] = value;
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
