import assert from 'node:assert/strict';
import { isDigestReleaseError } from '../../src/errors';
import { sha256Of } from '../../src/reference/digest';
import { RegistryClient } from '../../src/registry/client';
import { OCI_MANIFEST } from '../../src/registry/manifest-parse';
import type { ScriptedServer } from '../../lab/scripted';
import { startScripted } from '../../lab/scripted';

// A manifest request the registry redirects (a registry behind a CDN or a mirror does) is followed
// as blob reads are, without the registry's credentials; a redirect with nowhere to go says what to
// check instead of a bare status.

const MANIFEST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'c'.repeat(64)}`, size: 2 },
    layers: [],
  }),
);
const DIGEST = sha256Of(new Uint8Array(MANIFEST));

describe('manifest redirects (scripted registry)', () => {
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  const client = () =>
    new RegistryClient(server!.host, {
      maxAttempts: 1,
      credential: { kind: 'basic', username: 'u', password: 'p', source: 'test' },
    });

  it('follows a 307 on a manifest read, sending the redirect target no credentials', async () => {
    server = await startScripted((req, res) => {
      if (req.url.startsWith('/v2/') && !req.headers.authorization)
        return void res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="r"' }).end();
      if (req.url.startsWith('/v2/')) return void res.writeHead(307, { Location: '/mirror/app/1.0?grant=x' }).end();
      if (req.headers.authorization) return void res.writeHead(400).end('the mirror was sent the registry credentials');
      res
        .writeHead(200, {
          'Content-Type': OCI_MANIFEST,
          'Docker-Content-Digest': DIGEST,
          'Content-Length': String(MANIFEST.length),
        })
        .end(MANIFEST);
    });
    const read = await client().getManifest('team/app', '1.0');
    assert.equal(read.digest, DIGEST);
    const mirrored = server.requests.filter((r) => r.url.startsWith('/mirror/'));
    assert.equal(mirrored.length, 1);
    assert.equal(mirrored[0]!.headers.authorization, undefined);
  });

  it('a redirect without a Location says so and what to check', async () => {
    server = await startScripted((req, res) => {
      if (!req.headers.authorization) return void res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="r"' }).end();
      res.writeHead(307).end();
    });
    await assert.rejects(client().getManifest('team/app', '1.0'), (err: unknown) => {
      assert.ok(isDigestReleaseError(err, 'REGISTRY_ERROR'), String(err));
      assert.ok(
        err.message.includes(`The registry ${server!.host} answered 307 for ${server!.host}/team/app:1.0`),
        err.message,
      );
      assert.match(err.message, /without a Location to follow: check the registry's address/);
      return true;
    });
  });
});
