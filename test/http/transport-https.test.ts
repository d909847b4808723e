import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { isDigestReleaseError } from '../../src/errors';
import type { Digest } from '../../src/reference/digest';
import { Network } from '../../src/http/network';
import { DIRECT_SETTINGS } from '../../src/http/settings';
import { Transport } from '../../src/http/transport';
import { verifyingStream } from '../../src/registry/verifying-stream';
import { runCertificates } from '../../lab/ground';
import type { ScriptedServer } from '../../lab/scripted';
import { startScripted } from '../../lab/scripted';

// The transport over node:https, against a scripted server: what fetch used to do for us
// (redirects left to the caller, bodies that fail midway, connections kept) and what a streamed
// upload must never do (send a complete body whose bytes failed their check).

function sha256(bytes: Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
}

describe('transport over node:https', function () {
  this.timeout(20_000);
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  const transport = () => new Transport({ maxAttempts: 3, backoffMs: 10, timeoutMs: 5_000 });

  it('returns a redirect to the caller instead of following it', async () => {
    server = await startScripted((_req, res) => res.writeHead(307, { Location: 'https://storage.example/blob' }).end());
    const response = await transport().send({ method: 'GET', url: `https://${server.host}/v2/r/blobs/sha256:x` });
    assert.equal(response.status, 307);
    assert.equal(response.headers.get('location'), 'https://storage.example/blob');
    assert.equal(server.requests.length, 1);
  });

  it('answers HEAD and 204 with no body, and reads other bodies as text, JSON and bytes', async () => {
    server = await startScripted((req, res) => {
      if (req.method === 'HEAD')
        res.writeHead(200, { 'Content-Length': '42', 'Docker-Content-Digest': 'sha256:abc' }).end();
      else if (req.url === '/none') res.writeHead(204).end();
      else res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"tags":["a","b"]}');
    });
    const head = await transport().send({ method: 'HEAD', url: `https://${server.host}/v2/` });
    assert.equal(head.body, null);
    assert.equal(head.headers.get('Content-Length'), '42');
    assert.equal(head.headers.get('docker-content-digest'), 'sha256:abc');
    assert.equal((await transport().send({ method: 'DELETE', url: `https://${server.host}/none` })).body, null);
    assert.deepEqual(await (await transport().send({ method: 'GET', url: `https://${server.host}/v2/` })).json(), {
      tags: ['a', 'b'],
    });
    const bytes = new Uint8Array(
      await (await transport().send({ method: 'GET', url: `https://${server.host}/v2/` })).arrayBuffer(),
    );
    assert.equal(Buffer.from(bytes).toString('utf8'), '{"tags":["a","b"]}');
  });

  it('keeps the connection after a small body is dropped', async () => {
    const ports: number[] = [];
    server = await startScripted((_req, res) => {
      ports.push(res.socket!.remotePort!);
      res.writeHead(202, { 'Content-Length': '2' }).end('{}');
    });
    const t = transport();
    for (let i = 0; i < 3; i++)
      await (await t.send({ method: 'POST', url: `https://${server.host}/v2/r/blobs/uploads/` })).body?.cancel();
    assert.equal(ports.length, 3);
    assert.equal(new Set(ports).size, 1, 'one connection for the three requests');
  });

  it('closes a connection idle in the pool for the pooled idle time instead of reusing it (a server may be closing it)', async () => {
    const ports: number[] = [];
    server = await startScripted((_req, res) => {
      ports.push(res.socket!.remotePort!);
      res.writeHead(201, { 'Content-Length': '0' }).end();
    });
    const t = new Transport({
      maxAttempts: 1,
      backoffMs: 10,
      timeoutMs: 5_000,
      network: new Network(DIRECT_SETTINGS, 200),
    });
    const put = async () =>
      (await t.send({ method: 'PUT', url: `https://${server!.host}/v2/r/blobs/uploads/x` })).body?.cancel();
    await put();
    await put();
    await new Promise((resolve) => setTimeout(resolve, 400));
    await put();
    assert.equal(ports[1], ports[0], 'reused at once');
    assert.notEqual(ports[2], ports[1], 'a new connection after the idle time');
  });

  it('errors the body of an answer whose connection is lost midway', async () => {
    server = await startScripted((_req, res) => {
      res.writeHead(200, { 'Content-Length': '100000' });
      res.write(Buffer.alloc(1000));
      setTimeout(() => res.socket?.destroy(), 50);
    });
    const response = await transport().send({ method: 'GET', url: `https://${server.host}/v2/r/blobs/sha256:x` });
    assert.equal(response.status, 200);
    await assert.rejects(response.text());
  });

  it('sends a streamed body once, even when the answer is one it would retry', async () => {
    server = await startScripted((_req, res) => res.writeHead(503).end());
    const body = Readable.from([Buffer.from('some'), Buffer.from(' bytes')]);
    const response = await transport().send({
      method: 'PUT',
      url: `https://${server.host}/upload`,
      headers: { 'Content-Length': '10' },
      body,
    });
    assert.equal(response.status, 503);
    assert.equal(server.requests.length, 1);
    assert.equal(server.requests[0]!.body, 'some bytes');
  });

  it('reports a streamed body that fails its digest check, and the server never receives it whole', async () => {
    server = await startScripted(() => undefined);
    const bytes = Buffer.alloc(600_000, 7);
    const wrong = sha256(new Uint8Array(Buffer.alloc(600_000, 8)));
    const chunks = Array.from({ length: 60 }, (_, i) => bytes.subarray(i * 10_000, (i + 1) * 10_000));
    const body = Readable.from(chunks).pipe(verifyingStream(wrong, bytes.byteLength, 'The test source'));
    await assert.rejects(
      transport().send({
        method: 'PUT',
        url: `https://${server.host}/upload`,
        headers: { 'Content-Length': String(bytes.byteLength) },
        body,
      }),
      (err: unknown) => isDigestReleaseError(err, 'DIGEST_MISMATCH') && /hash to sha256:/.test(err.message),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(server.requests.length, 0, 'the server saw no complete request');
  });

  describe('a streamed body larger than one corked window (1 MiB)', () => {
    /** A server that counts the body bytes it takes and answers 201 only to a body that ends. */
    async function countingServer(): Promise<{
      host: string;
      received: () => number;
      ended: () => boolean;
      hash: () => string;
      close: () => Promise<void>;
    }> {
      const certs = runCertificates();
      let received = 0;
      let ended = false;
      const hash = createHash('sha256');
      const server = createServer(
        { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) },
        (req, res) => {
          req.on('data', (chunk: Buffer) => {
            received += chunk.byteLength;
            hash.update(chunk);
          });
          req.on('end', () => {
            ended = true;
            res.writeHead(201).end();
          });
        },
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return {
        host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
        received: () => received,
        ended: () => ended,
        hash: () => `sha256:${hash.copy().digest('hex')}`,
        close: () => new Promise<void>((resolve) => server.closeAllConnections() ?? server.close(() => resolve())),
      };
    }
    const bytes = Buffer.from(Array.from({ length: 3 * 1024 * 1024 + 12_345 }, (_, i) => (i * 7) % 253));
    /** The body as a source registry sends it: 16 KiB TLS records. */
    const records = (of: Buffer) =>
      Array.from({ length: Math.ceil(of.byteLength / 16_384) }, (_, i) => of.subarray(i * 16_384, (i + 1) * 16_384));

    it('arrives whole and unchanged, window after window', async () => {
      const counting = await countingServer();
      try {
        const body = Readable.from(records(bytes)).pipe(
          verifyingStream(sha256(new Uint8Array(bytes)), bytes.byteLength, 'The test source'),
        );
        const response = await transport().send({
          method: 'PUT',
          url: `https://${counting.host}/upload`,
          headers: { 'Content-Length': String(bytes.byteLength) },
          body,
        });
        assert.equal(response.status, 201);
        assert.equal(counting.received(), bytes.byteLength);
        assert.equal(counting.hash(), sha256(new Uint8Array(bytes)));
      } finally {
        await counting.close();
      }
    });

    it('whose last bytes break its digest: the server never takes the whole body', async () => {
      const counting = await countingServer();
      try {
        const altered = Buffer.from(bytes);
        altered[altered.byteLength - 1] ^= 0xff;
        const body = Readable.from(records(altered)).pipe(
          verifyingStream(sha256(new Uint8Array(bytes)), bytes.byteLength, 'The test source'),
        );
        await assert.rejects(
          transport().send({
            method: 'PUT',
            url: `https://${counting.host}/upload`,
            headers: { 'Content-Length': String(bytes.byteLength) },
            body,
          }),
          (err: unknown) => isDigestReleaseError(err, 'DIGEST_MISMATCH'),
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.ok(
          counting.received() < bytes.byteLength,
          `the last bytes were never sent (${counting.received()} of ${bytes.byteLength} came)`,
        );
        assert.equal(counting.ended(), false, 'the server saw no complete request');
      } finally {
        await counting.close();
      }
    });
  });

  it('passes bytes that match their digest through the check unchanged', async () => {
    const bytes = Buffer.from(Array.from({ length: 700_000 }, (_, i) => i % 251));
    const chunks = Array.from({ length: 70 }, (_, i) => bytes.subarray(i * 10_000, (i + 1) * 10_000));
    const out: Buffer[] = [];
    for await (const chunk of Readable.from(chunks).pipe(
      verifyingStream(sha256(new Uint8Array(bytes)), bytes.byteLength, 'The test source'),
    ))
      out.push(chunk as Buffer);
    assert.ok(Buffer.concat(out).equals(bytes));
  });
});
