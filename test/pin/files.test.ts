import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDigestReleaseError } from '../../src/errors';
import { YAML_FILE_LIMIT, readText } from '../../src/pin/files';

describe('pin: reading a file', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'digestpin-files-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps a byte order mark as the first character, so that it is written back', () => {
    const path = join(dir, 'bom.yaml');
    writeFileSync(path, Buffer.from('\uFEFFimage: app:1\r\n', 'utf8'));
    assert.equal(readText(path, 'bom.yaml'), '\uFEFFimage: app:1\r\n');
  });

  it('refuses a file that is not UTF-8 rather than corrupt it', () => {
    const bad = join(dir, 'latin1.yaml');
    writeFileSync(bad, Buffer.from([0x61, 0x3a, 0x20, 0xe9, 0x0a]));
    assert.throws(() => readText(bad, 'latin1.yaml'), /latin1\.yaml is not UTF-8/);
  });

  it('names a file that cannot be read', () => {
    assert.throws(
      () => readText(join(dir, 'nope.yaml'), 'nope.yaml'),
      /^DigestReleaseError: The input files matches nope\.yaml: the file cannot be read \(ENOENT/,
    );
  });

  it('reads a file up to the limit and refuses a larger one without reading it', () => {
    const path = join(dir, 'big.yaml');
    writeFileSync(path, '');
    truncateSync(path, YAML_FILE_LIMIT);
    assert.equal(readText(path, 'big.yaml').length, YAML_FILE_LIMIT);
    truncateSync(path, YAML_FILE_LIMIT + 1);
    assert.throws(
      () => readText(path, 'big.yaml'),
      (err: unknown) =>
        isDigestReleaseError(err, 'FILE_ACCESS') &&
        err.message ===
          'The input files matches big.yaml: the file is 8.0 MiB (8388609 bytes), over the 8 MiB limit for a file DigestPin reads; it was not read. Leave it out of the files input (!big.yaml).',
    );
  });
});
