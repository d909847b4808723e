import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { isDigestReleaseError } from '../../src/errors';
import { sha256Of } from '../../src/reference/digest';
import type { UploadOptions } from '../../src/registry/blob-upload';
import { headBlob, openBlob } from '../../src/registry/blobs';
import { uploadBlob } from '../../src/registry/blob-upload';
import { RegistryClient } from '../../src/registry/client';
import type { Recorded, ScriptedServer } from '../../lab/scripted';
import { startScripted } from '../../lab/scripted';

// Blob reads and uploads against scripted registries: the protocol corners a real registry does
// not show on demand (refusals mid-upload, chains of storage redirects, flaky targets).

const BYTES = new Uint8Array(Buffer.from('a blob of test bytes, long enough to come in two chunks'));
const DIGEST = sha256Of(BYTES);

function denied(res: ServerResponse, message: string): void {
  res
    .writeHead(403, { 'Content-Type': 'application/json' })
    .end(JSON.stringify({ errors: [{ code: 'DENIED', message }] }));
}

describe('blobs (scripted registries)', () => {
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  const client = () => new RegistryClient(server!.host, { maxAttempts: 1 });

  describe('refusals name what was refused, in words', () => {
    const cases: { step: string; refuse: (req: Recorded) => boolean; words: string }[] = [
      { step: 'starting the upload', refuse: (req) => req.method === 'POST', words: 'denied starting an upload of' },
      { step: 'a chunk', refuse: (req) => req.method === 'PATCH', words: 'denied uploading a chunk of' },
      { step: 'closing the upload', refuse: (req) => req.method === 'PUT', words: 'denied completing the upload of' },
    ];
    for (const { step, refuse, words } of cases) {
      it(`says "${words}" when the registry refuses ${step}, naming the registry, repository and blob`, async () => {
        server = await startScripted((req, res) => {
          if (refuse(req)) return denied(res, 'the repository storage quota is exceeded');
          if (req.method === 'DELETE') return void res.writeHead(204).end();
          res.writeHead(req.method === 'PUT' ? 201 : 202, { Location: '/v2/team/app/blobs/uploads/session' }).end();
        });
        await assert.rejects(
          uploadBlob(client(), 'team/app', DIGEST, BYTES.byteLength, () => BYTES, { chunkSize: 32 }),
          (err: unknown) =>
            isDigestReleaseError(err, 'DENIED') &&
            err.message.includes(
              `The registry ${server!.host} ${words} the blob ${DIGEST} in ${server!.host}/team/app (DENIED: the repository storage quota is exceeded).`,
            ) &&
            err.message.includes('may push to team/app'),
        );
      });
    }
  });

  it('pauses between upload attempts, longer each time, instead of starting the next at once', async () => {
    const posts: number[] = [];
    server = await startScripted((req, res) => {
      if (req.method === 'POST') posts.push(Date.now());
      if (req.method === 'PUT') return void res.writeHead(500).end();
      if (req.method === 'DELETE') return void res.writeHead(204).end();
      res.writeHead(202, { Location: '/v2/team/app/blobs/uploads/session' }).end();
    });
    const retried: number[] = [];
    const options: UploadOptions = { attempts: 3, retryBackoffMs: 100, onRetry: (attempt) => retried.push(attempt) };
    await assert.rejects(
      uploadBlob(client(), 'team/app', DIGEST, BYTES.byteLength, () => BYTES, options),
      (err: unknown) => isDigestReleaseError(err, 'REGISTRY_ERROR') && /was tried 3 times/.test(err.message),
    );
    assert.deepEqual(retried, [1, 2]);
    assert.equal(posts.length, 3);
    const pauses = [posts[1]! - posts[0]!, posts[2]! - posts[1]!];
    assert.ok(pauses[0]! >= 90, `a pause before the second attempt (${pauses.join(', ')} ms)`);
    assert.ok(pauses[1]! >= 190, `a longer pause before the third (${pauses.join(', ')} ms)`);
  });

  describe('redirects to storage', () => {
    /**
     * A registry behind Basic auth whose blob answers redirect: `hops` maps a path to the Location
     * it redirects to ("{host}" stands for this server); any other path serves the blob. Paths
     * outside /v2/ are storage, which refuses the registry's credentials.
     */
    const registry = (hops: Record<string, string>) => (req: Recorded, res: ServerResponse) => {
      const path = new URL(req.url, 'https://x').pathname;
      if (path.startsWith('/v2/') && !req.headers.authorization)
        return void res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="r"' }).end();
      if (!path.startsWith('/v2/') && req.headers.authorization)
        return void res.writeHead(400).end('storage was sent the registry credentials');
      const location = hops[path]?.replace('{host}', server!.host);
      if (location) return void res.writeHead(path.startsWith('/v2/') ? 307 : 302, { Location: location }).end();
      res.writeHead(200, { 'Content-Length': String(BYTES.byteLength) }).end(req.method === 'HEAD' ? undefined : BYTES);
    };
    const signedIn = () =>
      new RegistryClient(server!.host, {
        maxAttempts: 1,
        credential: { kind: 'basic', username: 'u', password: 'p', source: 'test' },
      });
    const read = async (): Promise<Buffer> => {
      const parts: Buffer[] = [];
      for await (const chunk of await openBlob(signedIn(), 'team/app', DIGEST, BYTES.byteLength))
        parts.push(chunk as Buffer);
      return Buffer.concat(parts);
    };
    const blob = `/v2/team/app/blobs/${DIGEST}`;
    const storagePaths = () =>
      server!.requests.map((r) => new URL(r.url, 'https://x').pathname).filter((p) => !p.startsWith('/v2/'));

    it('follows a chain of storage redirects, relative and absolute, sending storage no credentials', async () => {
      server = await startScripted(
        registry({
          [blob]: '/storage/one?sig=a',
          '/storage/one': 'two?sig=b',
          '/storage/two': 'https://{host}/cdn/three?sig=c',
        }),
      );
      assert.ok(Buffer.from(BYTES).equals(await read()));
      assert.deepEqual(storagePaths(), ['/storage/one', '/storage/two', '/cdn/three']);
      assert.ok(
        server.requests.filter((r) => !r.url.startsWith('/v2/')).every((r) => r.headers.authorization === undefined),
      );
      assert.deepEqual(await headBlob(signedIn(), 'team/app', DIGEST), { size: BYTES.byteLength });
    });

    it('stops at a redirect loop, saying so', async () => {
      server = await startScripted(
        registry({ [blob]: '/storage/one', '/storage/one': '/storage/two', '/storage/two': '/storage/one' }),
      );
      await assert.rejects(
        read(),
        (err: unknown) =>
          isDigestReleaseError(err, 'REGISTRY_ERROR') &&
          /redirects that loop/.test(err.message) &&
          err.message.includes(DIGEST),
      );
      assert.deepEqual(storagePaths(), ['/storage/one', '/storage/two']);
    });

    it('follows no more than 5 redirects in a chain', async () => {
      const hops: Record<string, string> = { [blob]: '/hop/1' };
      for (let i = 1; i < 20; i++) hops[`/hop/${i}`] = `/hop/${i + 1}`;
      server = await startScripted(registry(hops));
      await assert.rejects(
        read(),
        (err: unknown) => isDigestReleaseError(err, 'REGISTRY_ERROR') && /more than 5 redirects/.test(err.message),
      );
      assert.deepEqual(storagePaths(), ['/hop/1', '/hop/2', '/hop/3', '/hop/4', '/hop/5']);
    });
  });
});
