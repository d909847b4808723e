import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:https';
import { createServer } from 'node:https';
import type { AddressInfo, Server as TcpServer, Socket } from 'node:net';
import { createServer as createTcpServer } from 'node:net';
import { Readable } from 'node:stream';
import { isDigestReleaseError } from '../../src/errors';
import { RegistryClient } from '../../src/registry/client';
import { pullScope } from '../../src/registry/sign-in';
import { StallBudget, Transport } from '../../src/http/transport';
import { runCertificates } from '../../lab/ground';

// Stalls against servers that stall on purpose, with a stall time of 300 ms: a silence in each
// phase is noticed in about one stall time, tried once more, and fails at the second with a message
// that names the peer and the request; what is slow but moving, or waits on our own side, is none.

const STALL_MS = 300;

interface RawServer {
  readonly host: string;
  /** Requests that arrived, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

/** An HTTPS server whose handler sees the request before its body is read, so it can refuse to read it. */
async function startRaw(
  handler: (req: IncomingMessage, res: ServerResponse, index: number) => void,
): Promise<RawServer> {
  const certs = runCertificates();
  const requests: string[] = [];
  const server: Server = createServer(
    { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) },
    (req, res) => {
      requests.push(`${req.method} ${req.url}`);
      handler(req, res, requests.length - 1);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Reads the request to its end, then calls `then`. */
function afterBody(req: IncomingMessage, then: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => then(Buffer.concat(chunks)));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('stalls (network layer, against servers that stall on purpose)', function () {
  this.timeout(20_000);
  let server: RawServer | undefined;
  let tcp: TcpServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await new Promise<void>((resolve) => (tcp ? tcp.close(() => resolve()) : resolve()));
    tcp = undefined;
  });
  const transport = (maxAttempts = 4) => new Transport({ stallMs: STALL_MS, backoffMs: 10, maxAttempts });
  const client = () => new RegistryClient(server!.host, { stallMs: STALL_MS, backoffMs: 10 });
  const manifestRead = (c: RegistryClient) =>
    c.readWhole(
      (stalls) =>
        c.request({ method: 'GET', path: '/v2/team/app/manifests/1.0', scope: pullScope('team/app'), stalls }),
      { bytes: 1024 * 1024, what: 'The manifest', kind: 'a manifest', code: 'REGISTRY_ERROR' },
    );

  it('no answer: noticed in one stall time, tried once more, the second stall fails it, naming the registry and the request', async () => {
    server = await startRaw(() => undefined);
    const started = Date.now();
    await assert.rejects(
      transport().send({ method: 'GET', url: `https://${server.host}/v2/team/app/manifests/1.0` }),
      (err: unknown) => {
        assert.ok(isDigestReleaseError(err, 'STALLED'), String(err));
        assert.ok(
          err.message.includes(
            `The registry ${server!.host} did not answer GET /v2/team/app/manifests/1.0 within 0.3 s`,
          ),
          err.message,
        );
        assert.match(err.message, /It stalled twice, so it was not tried again/);
        assert.match(err.message, /DigestRelease\.StallSeconds \(0\.3 s now\)/);
        return true;
      },
    );
    assert.equal(server.requests.length, 2, 'one retry, though four attempts are allowed');
    assert.ok(Date.now() - started < 6 * STALL_MS, `${Date.now() - started} ms`);
  });

  it('a body that stops midway is asked for again; the second stall fails the read with how far it got', async () => {
    server = await startRaw((_req, res) => {
      res.writeHead(200, { 'Content-Length': '100' });
      res.write('x'.repeat(10));
    });
    await assert.rejects(manifestRead(client()), (err: unknown) => {
      assert.ok(isDigestReleaseError(err, 'STALLED'), String(err));
      assert.ok(
        err.message.includes(
          `The registry ${server!.host} stopped sending its answer to GET /v2/team/app/manifests/1.0 after 10 of 100 bytes`,
        ),
        err.message,
      );
      return true;
    });
    assert.equal(server.requests.length, 2);
  });

  it('a body cut short (the connection closed) is asked for again, and the second answer is read', async () => {
    server = await startRaw((_req, res, i) => {
      res.writeHead(200, { 'Content-Length': '100' });
      if (i === 0) res.write('x'.repeat(10), () => res.socket?.destroy());
      else res.end('y'.repeat(100));
    });
    const { body } = await manifestRead(client());
    assert.equal(body?.toString(), 'y'.repeat(100));
    assert.equal(server.requests.length, 2);
  });

  it('a body that is slow but moving is no stall', async () => {
    server = await startRaw((_req, res) => {
      res.writeHead(200, { 'Content-Length': '8' });
      let sent = 0;
      const tick = setInterval(() => {
        res.write('z');
        if (++sent === 8) {
          clearInterval(tick);
          res.end();
        }
      }, STALL_MS / 2);
    });
    const { body } = await manifestRead(client());
    assert.equal(body?.toString(), 'z'.repeat(8));
    assert.equal(server.requests.length, 1);
  });

  it('a reader slower than the body is no stall of the registry', async () => {
    const size = 4 * 1024 * 1024;
    server = await startRaw((_req, res) =>
      res.writeHead(200, { 'Content-Length': String(size) }).end(Buffer.alloc(size, 1)),
    );
    const response = await transport().send({ method: 'GET', url: `https://${server.host}/v2/team/app/blobs/x` });
    let read = 0;
    let pauses = 0;
    for await (const chunk of response.stream()) {
      read += (chunk as Buffer).byteLength;
      if (pauses++ < 3) await sleep(STALL_MS * 1.5);
    }
    assert.equal(read, size);
  });

  it('a peer that stops taking the request fails it in about a stall time, saying how much it took', async () => {
    const size = 64 * 1024 * 1024;
    server = await startRaw((req) => req.pause());
    const started = Date.now();
    await assert.rejects(
      transport(1).send({
        method: 'PUT',
        url: `https://${server.host}/v2/team/app/blobs/uploads/1`,
        body: new Uint8Array(size),
      }),
      (err: unknown) => {
        assert.ok(isDigestReleaseError(err, 'STALLED'), String(err));
        assert.ok(
          err.message.includes(
            `The registry ${server!.host} stopped taking the request PUT /v2/team/app/blobs/uploads/1 after `,
          ),
          err.message,
        );
        assert.match(err.message, new RegExp(`of ${size} bytes: nothing moved for 0\\.\\d s`));
        return true;
      },
    );
    assert.ok(Date.now() - started < 10 * STALL_MS, `${Date.now() - started} ms`);
  });

  it("a streamed body whose own source pauses is not the peer's stall", async () => {
    server = await startRaw((req, res) => afterBody(req, (body) => res.writeHead(201).end(String(body.byteLength))));
    const source = Readable.from(
      (async function* () {
        yield Buffer.alloc(1000, 1);
        await sleep(STALL_MS * 3);
        yield Buffer.alloc(1000, 2);
      })(),
    );
    const response = await transport().send({
      method: 'PUT',
      url: `https://${server.host}/v2/team/app/blobs/uploads/1`,
      headers: { 'Content-Length': '2000' },
      body: source,
    });
    assert.equal(response.status, 201);
    assert.equal(await response.text(), '2000');
  });

  it('the answer that completes a large upload may take a second per 10 MiB longer than a stall time; to a small request it may not', async () => {
    server = await startRaw((req, res) =>
      afterBody(req, () => setTimeout(() => res.writeHead(201).end(), STALL_MS * 2)),
    );
    const url = `https://${server.host}/v2/team/app/blobs/uploads/1`;
    // The PUT that closes a chunked upload of 10 MiB: its own body is small, the registry's work is not.
    const upload = await transport().send({
      method: 'PUT',
      url,
      body: new Uint8Array(1000),
      completesUpload: 10 * 1024 * 1024,
    });
    assert.equal(upload.status, 201);
    await assert.rejects(
      transport(1).send({ method: 'PUT', url, body: new Uint8Array(1000) }),
      (err: unknown) => isDigestReleaseError(err, 'STALLED') && /did not answer PUT/.test(err.message),
    );
  });

  it('a host that takes the TCP connection but never the TLS handshake is unreachable in a stall time', async () => {
    const sockets: Socket[] = [];
    tcp = createTcpServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => tcp!.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(tcp.address() as AddressInfo).port}`;
    try {
      await assert.rejects(transport().send({ method: 'GET', url: `https://${host}/v2/` }), (err: unknown) => {
        assert.ok(isDigestReleaseError(err, 'UNREACHABLE'), String(err));
        assert.ok(
          err.message.includes(
            `Could not reach the registry ${host} after 2 attempts: it did not take a connection within 0.3 s`,
          ),
          err.message,
        );
        return true;
      });
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  it('one budget for an operation: a stall in its first request and one in its second end it', async () => {
    server = await startRaw(() => undefined);
    const stalls = new StallBudget();
    const t = transport();
    const url = `https://${server.host}/v2/`;
    await assert.rejects(
      t.send({ method: 'HEAD', url, stalls, headers: {} }).catch(() => t.send({ method: 'GET', url, stalls })),
      (err: unknown) => isDigestReleaseError(err, 'STALLED'),
    );
    assert.equal(
      server.requests.length,
      3,
      'the first request stalled twice; the second once, and was not tried again',
    );
    assert.ok(stalls.exhausted);
  });
});
