import assert from 'node:assert/strict';
import { isDigestReleaseError } from '../../src/errors';
import { Transport } from '../../src/http/transport';
import { retryAfterMs } from '../../src/http/retry';
import type { ScriptedServer } from '../../lab/scripted';
import { startScripted } from '../../lab/scripted';

// Retries, against a scripted server: what is retried, how long it waits, and where it stops.

describe('transport retries', function () {
  this.timeout(20_000);
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  const transport = (maxAttempts = 4, timeoutMs = 5_000) => new Transport({ maxAttempts, backoffMs: 10, timeoutMs });

  it('honours Retry-After on 429, then succeeds', async () => {
    server = await startScripted((_req, res, i) => {
      if (i === 0) res.writeHead(429, { 'Retry-After': '1' }).end();
      else res.writeHead(200).end('ok');
    });
    const started = Date.now();
    const response = await transport().send({ method: 'GET', url: `https://${server.host}/v2/` });
    assert.equal(response.status, 200);
    assert.equal(server.requests.length, 2);
    assert.ok(Date.now() - started >= 900, 'waited for Retry-After');
  });

  it('retries 503 and other 5xx with backoff, up to the attempt bound', async () => {
    server = await startScripted((_req, res) => res.writeHead(502).end());
    const response = await transport(3).send({ method: 'GET', url: `https://${server.host}/v2/` });
    assert.equal(response.status, 502, 'the last answer is returned for the caller to report');
    assert.equal(server.requests.length, 3);
  });

  it('does not retry 4xx answers', async () => {
    server = await startScripted((_req, res) => res.writeHead(404).end());
    assert.equal((await transport().send({ method: 'GET', url: `https://${server.host}/v2/` })).status, 404);
    assert.equal(server.requests.length, 1);
  });

  it('gives up at once when Retry-After asks for longer than it will wait', async () => {
    server = await startScripted((_req, res) => res.writeHead(503, { 'Retry-After': '3600' }).end());
    assert.equal((await transport().send({ method: 'GET', url: `https://${server.host}/v2/` })).status, 503);
    assert.equal(server.requests.length, 1);
  });

  it('retries a connection reset', async () => {
    server = await startScripted((_req, res, i) => {
      if (i === 0) res.socket?.destroy();
      else res.writeHead(200).end('ok');
    });
    assert.equal((await transport().send({ method: 'GET', url: `https://${server.host}/v2/` })).status, 200);
    assert.equal(server.requests.length, 2);
  });

  it('retries a request whose answer does not come in time, and reports one that never comes as stalled, naming the request', async () => {
    server = await startScripted((_req, res, i) => {
      if (i === 1) res.writeHead(200).end('ok');
      // otherwise never answer
    });
    assert.equal((await transport(4, 300).send({ method: 'GET', url: `https://${server.host}/v2/` })).status, 200);
    await server.close();
    server = await startScripted(() => undefined);
    await assert.rejects(
      transport(2, 200).send({ method: 'GET', url: `https://${server.host}/v2/` }),
      (err: unknown) =>
        isDigestReleaseError(err, 'STALLED') &&
        err.message.includes(`The registry ${server!.host} did not answer GET /v2/ within 0.2 s`) &&
        /It was tried 2 times/.test(err.message),
    );
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    assert.equal(retryAfterMs('2'), 2000);
    assert.equal(retryAfterMs(new Date(10_000).toUTCString(), 4_000), 6_000);
    assert.equal(retryAfterMs('soon'), undefined);
    assert.equal(retryAfterMs(null), undefined);
  });
});
