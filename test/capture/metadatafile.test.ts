import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDigestReleaseError } from '../../src/errors';
import { parseReference } from '../../src/reference/reference';
import { digestFromMetadataFile } from '../../src/capture/metadatafile';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;

describe('build metadata files', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'metadata-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const image = parseReference('myacr.azurecr.io/app:1.0');

  it('reads skopeo --digestfile (a bare digest, no newline)', () => {
    assert.equal(digestFromMetadataFile(file('digest', A), image), A);
  });

  it('reads docker buildx build --metadata-file', () => {
    const json = {
      'buildx.build.ref': 'x',
      'containerimage.descriptor': {},
      'containerimage.digest': A,
      'image.name': 'myacr.azurecr.io/app:1.0',
    };
    assert.equal(digestFromMetadataFile(file('buildx.json', JSON.stringify(json)), image), A);
  });

  it('reads docker buildx bake metadata, picking the target that names the image', () => {
    const json = {
      api: { 'containerimage.digest': B, 'image.name': 'myacr.azurecr.io/api:1.0' },
      app: { 'containerimage.digest': A, 'image.name': 'myacr.azurecr.io/app:1.0,myacr.azurecr.io/app:latest' },
    };
    assert.equal(digestFromMetadataFile(file('bake.json', JSON.stringify(json)), image), A);
    assert.throws(
      () => digestFromMetadataFile(file('bake2.json', JSON.stringify({ a: json.api, b: { ...json.api } })), image),
      (err: unknown) => isDigestReleaseError(err, 'METADATA_FILE') && /several bake targets/.test(err.message),
    );
  });

  it('names the input and the file when it cannot read it', () => {
    for (const [name, text, fragment] of [
      ['missing', undefined, 'ENOENT'],
      ['text', 'hello', 'neither a digest'],
      ['nodigest.json', '{"image.name":"x"}', 'no "containerimage.digest"'],
      ['bad.json', `{"containerimage.digest":"${A.toUpperCase()}"}`, 'not a sha256 digest'],
    ] as const) {
      const path = text === undefined ? join(dir, name) : file(name, text);
      assert.throws(
        () => digestFromMetadataFile(path, image),
        (err: unknown) =>
          isDigestReleaseError(err, 'METADATA_FILE') &&
          err.message.includes('metadataFile') &&
          err.message.includes(path) &&
          err.message.includes(fragment),
      );
    }
  });
});
