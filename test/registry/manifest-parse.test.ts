import assert from 'node:assert/strict';
import { isDigestReleaseError } from '../../src/errors';
import type { IndexManifest } from '../../src/registry/manifest-parse';
import { parseManifest, platformDigests } from '../../src/registry/manifest-parse';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const bytes = (doc: unknown) => Buffer.from(JSON.stringify(doc));

describe('manifest parsing', () => {
  it('reads an OCI image manifest', () => {
    const m = parseManifest(
      bytes({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d('a'), size: 2 },
        layers: [],
      }),
      'application/vnd.oci.image.manifest.v1+json',
      'r/x:1',
    );
    assert.equal(m.kind, 'image');
  });

  it('takes the media type from the Content-Type when the manifest has none', () => {
    const m = parseManifest(
      bytes({ schemaVersion: 2, manifests: [] }),
      'application/vnd.oci.image.index.v1+json',
      'r/x:1',
    );
    assert.equal(m.kind, 'index');
    assert.equal(m.mediaType, 'application/vnd.oci.image.index.v1+json');
  });

  it('refuses Docker schema 1 and says why', () => {
    assert.throws(
      () =>
        parseManifest(
          bytes({ schemaVersion: 1, name: 'x', tag: '1', fsLayers: [] }),
          'application/vnd.docker.distribution.manifest.v1+prettyjws',
          'r/x:1',
        ),
      (err: unknown) =>
        isDigestReleaseError(err, 'UNSUPPORTED_MEDIA_TYPE') &&
        /schema 1/.test(err.message) &&
        /r\/x:1/.test(err.message),
    );
  });

  it('refuses what is not an image manifest or index', () => {
    assert.throws(
      () => parseManifest(bytes({ schemaVersion: 2, mediaType: 'application/vnd.example+json' }), '', 'r/x:1'),
      (err: unknown) => isDigestReleaseError(err, 'UNSUPPORTED_MEDIA_TYPE'),
    );
  });

  it('refuses malformed descriptors instead of trusting them', () => {
    for (const layer of [
      { mediaType: 'x', digest: 'sha256:abc', size: 1 },
      { mediaType: 'x', digest: d('b'), size: -1 },
      { digest: d('b'), size: 1 },
    ]) {
      assert.throws(
        () =>
          parseManifest(
            bytes({
              schemaVersion: 2,
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              config: { mediaType: 'c', digest: d('a'), size: 1 },
              layers: [layer],
            }),
            '',
            'r/x:1',
          ),
        (err: unknown) => isDigestReleaseError(err, 'REGISTRY_ERROR') && /malformed/.test(err.message),
      );
    }
    assert.throws(() => parseManifest(Buffer.from('not json'), '', 'r/x:1'), /not JSON/);
  });

  it('maps platforms to digests, leaving out buildx attestations and telling Windows versions apart', () => {
    const index = parseManifest(
      bytes({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: d('1'),
            size: 1,
            platform: { os: 'linux', architecture: 'amd64' },
          },
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: d('2'),
            size: 1,
            platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
          },
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: d('3'),
            size: 1,
            platform: { os: 'unknown', architecture: 'unknown' },
            annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
          },
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: d('4'),
            size: 1,
            platform: { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' },
          },
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: d('5'),
            size: 1,
            platform: { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.1' },
          },
        ],
      }),
      '',
      'r/x:1',
    ) as IndexManifest;
    assert.deepEqual(platformDigests(index), {
      'linux/amd64': d('1'),
      'linux/arm/v7': d('2'),
      'windows/amd64': d('4'),
      'windows/amd64:10.0.20348.1': d('5'),
    });
  });
});
