import assert from 'node:assert/strict';
import { ServerResponse } from 'node:http';
import { isDigestReleaseError } from '../../src/errors';
import { sha256Of } from '../../src/reference/digest';
import { UploadOptions, uploadBlob } from '../../src/registry/blobs';
import { RegistryClient } from '../../src/registry/client';
import { Recorded, ScriptedServer, startScripted } from '../support/scripted';

// Blob reads and uploads against scripted registries: the protocol corners a real registry does
// not show on demand (refusals mid-upload, chains of storage redirects, flaky targets).

const BYTES = new Uint8Array(Buffer.from('a blob of test bytes, long enough to come in two chunks'));
const DIGEST = sha256Of(BYTES);

function denied(res: ServerResponse, message: string): void {
  res.writeHead(403, { 'Content-Type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'DENIED', message }] }));
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
            err.message.includes(`The registry ${server!.host} ${words} the blob ${DIGEST} in ${server!.host}/team/app (DENIED: the repository storage quota is exceeded).`) &&
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
      (err: unknown) => isDigestReleaseError(err, 'REGISTRY_ERROR') && /Gave up after 3 attempts/.test(err.message),
    );
    assert.deepEqual(retried, [1, 2]);
    assert.equal(posts.length, 3);
    const pauses = [posts[1]! - posts[0]!, posts[2]! - posts[1]!];
    assert.ok(pauses[0]! >= 90, `a pause before the second attempt (${pauses.join(', ')} ms)`);
    assert.ok(pauses[1]! >= 190, `a longer pause before the third (${pauses.join(', ')} ms)`);
  });
});
