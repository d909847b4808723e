import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { isDigestReleaseError } from '../../src/errors';
import { Digest } from '../../src/reference/digest';
import { Transport } from '../../src/http/transport';
import { verifyingStream } from '../../src/registry/verifying-stream';
import { ScriptedServer, startScripted } from '../../lab/scripted';

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
      if (req.method === 'HEAD') res.writeHead(200, { 'Content-Length': '42', 'Docker-Content-Digest': 'sha256:abc' }).end();
      else if (req.url === '/none') res.writeHead(204).end();
      else res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"tags":["a","b"]}');
    });
    const head = await transport().send({ method: 'HEAD', url: `https://${server.host}/v2/` });
    assert.equal(head.body, null);
    assert.equal(head.headers.get('Content-Length'), '42');
    assert.equal(head.headers.get('docker-content-digest'), 'sha256:abc');
    assert.equal((await transport().send({ method: 'DELETE', url: `https://${server.host}/none` })).body, null);
    assert.deepEqual(await (await transport().send({ method: 'GET', url: `https://${server.host}/v2/` })).json(), { tags: ['a', 'b'] });
    const bytes = new Uint8Array(await (await transport().send({ method: 'GET', url: `https://${server.host}/v2/` })).arrayBuffer());
    assert.equal(Buffer.from(bytes).toString('utf8'), '{"tags":["a","b"]}');
  });

  it('keeps the connection after a small body is dropped', async () => {
    const ports: number[] = [];
    server = await startScripted((_req, res) => {
      ports.push(res.socket!.remotePort!);
      res.writeHead(202, { 'Content-Length': '2' }).end('{}');
    });
    const t = transport();
    for (let i = 0; i < 3; i++) await (await t.send({ method: 'POST', url: `https://${server.host}/v2/r/blobs/uploads/` })).body?.cancel();
    assert.equal(ports.length, 3);
    assert.equal(new Set(ports).size, 1, 'one connection for the three requests');
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
    const response = await transport().send({ method: 'PUT', url: `https://${server.host}/upload`, headers: { 'Content-Length': '10' }, body });
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
      transport().send({ method: 'PUT', url: `https://${server.host}/upload`, headers: { 'Content-Length': String(bytes.byteLength) }, body }),
      (err: unknown) => isDigestReleaseError(err, 'DIGEST_MISMATCH') && /hash to sha256:/.test(err.message),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(server.requests.length, 0, 'the server saw no complete request');
  });

  it('passes bytes that match their digest through the check unchanged', async () => {
    const bytes = Buffer.from(Array.from({ length: 700_000 }, (_, i) => i % 251));
    const chunks = Array.from({ length: 70 }, (_, i) => bytes.subarray(i * 10_000, (i + 1) * 10_000));
    const out: Buffer[] = [];
    for await (const chunk of Readable.from(chunks).pipe(verifyingStream(sha256(new Uint8Array(bytes)), bytes.byteLength, 'The test source'))) out.push(chunk as Buffer);
    assert.ok(Buffer.concat(out).equals(bytes));
  });
});
