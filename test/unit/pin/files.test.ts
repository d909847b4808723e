import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDigestReleaseError } from '../../../src/errors';
import { readText, writeAtomically } from '../../../src/pin/files';

describe('pin: reading and writing files', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'digestpin-files-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('replaces files by rename, keeping their mode and leaving no temporary file', () => {
    const a = join(dir, 'a.yaml');
    writeFileSync(a, 'old\n');
    chmodSync(a, 0o640);
    writeAtomically([{ path: a, display: 'a.yaml', text: 'new\n' }]);
    assert.equal(readFileSync(a, 'utf8'), 'new\n');
    assert.equal(statSync(a).mode & 0o777, 0o640);
    assert.deepEqual(readdirSync(dir), ['a.yaml']);
  });

  it('writes through a symbolic link and keeps the link', () => {
    const real = join(dir, 'real.yaml');
    const link = join(dir, 'link.yaml');
    writeFileSync(real, 'old\n');
    symlinkSync(real, link);
    writeAtomically([{ path: link, display: 'link.yaml', text: 'new\n' }]);
    assert.equal(readFileSync(real, 'utf8'), 'new\n');
    assert.ok(statSync(link).isFile());
  });

  it('changes no file when one of the batch cannot be written', () => {
    const ok = join(dir, 'ok.yaml');
    writeFileSync(ok, 'old\n');
    // The second file went away between planning and writing: its temporary file cannot be staged.
    const gone = join(dir, 'gone', 'b.yaml');
    assert.throws(
      () => writeAtomically([{ path: ok, display: 'ok.yaml', text: 'new\n' }, { path: gone, display: 'gone/b.yaml', text: 'new\n' }]),
      (err: unknown) => isDigestReleaseError(err, 'FILE_ACCESS') && /gone\/b\.yaml cannot be written .*No file was changed/.test(err.message),
    );
    assert.equal(readFileSync(ok, 'utf8'), 'old\n');
    assert.deepEqual(readdirSync(dir), ['ok.yaml']);
  });

  it('refuses a file that is not UTF-8 rather than corrupt it', () => {
    const bad = join(dir, 'latin1.yaml');
    writeFileSync(bad, Buffer.from([0x61, 0x3a, 0x20, 0xe9, 0x0a]));
    assert.throws(() => readText(bad, 'latin1.yaml'), /latin1\.yaml is not UTF-8/);
  });

  it('names a file that cannot be read', () => {
    assert.throws(() => readText(join(dir, 'nope.yaml'), 'nope.yaml'), /nope\.yaml cannot be read/);
  });
});
