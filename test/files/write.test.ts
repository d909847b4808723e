import assert from 'node:assert/strict';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDigestReleaseError } from '../../src/errors';
import { writeFilesAtomically } from '../../src/files/write';

describe('files: writing whole files or none', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'digest-release-write-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const bytes = (text: string) => Buffer.from(text, 'utf8');

  it('replaces files by rename, keeping their mode exactly and leaving no temporary file', () => {
    const a = join(dir, 'a.yaml');
    writeFileSync(a, 'old\n');
    chmodSync(a, 0o664);
    const inode = statSync(a).ino;
    writeFilesAtomically([{ path: a, display: 'a.yaml', bytes: bytes('new\n') }]);
    assert.equal(readFileSync(a, 'utf8'), 'new\n');
    assert.equal(statSync(a).mode & 0o777, 0o664);
    assert.notEqual(statSync(a).ino, inode, "a new file took the old one's place");
    assert.deepEqual(readdirSync(dir), ['a.yaml']);
  });

  it('creates a file that does not exist yet', () => {
    const path = join(dir, 'evidence.json');
    writeFilesAtomically([{ path, display: 'evidence.json', bytes: bytes('{}') }]);
    assert.equal(readFileSync(path, 'utf8'), '{}');
    assert.deepEqual(readdirSync(dir), ['evidence.json']);
  });

  it('replaces a link given as the path instead of writing through it', () => {
    const outside = join(dir, 'outside.yaml');
    const link = join(dir, 'link.yaml');
    writeFileSync(outside, 'keep\n');
    symlinkSync(outside, link);
    writeFilesAtomically([{ path: link, display: 'link.yaml', bytes: bytes('new\n') }]);
    assert.equal(readFileSync(outside, 'utf8'), 'keep\n');
    assert.ok(lstatSync(link).isFile());
  });

  it('changes no file when one of the batch cannot be written', () => {
    const ok = join(dir, 'ok.yaml');
    writeFileSync(ok, 'old\n');
    // The second file went away between planning and writing: its temporary file cannot be staged.
    const gone = join(dir, 'gone', 'b.yaml');
    assert.throws(
      () =>
        writeFilesAtomically([
          { path: ok, display: 'ok.yaml', bytes: bytes('new\n') },
          { path: gone, display: 'gone/b.yaml', bytes: bytes('new\n') },
        ]),
      (err: unknown) =>
        isDigestReleaseError(err, 'FILE_ACCESS') &&
        /gone\/b\.yaml cannot be written .*No file was changed/.test(err.message),
    );
    assert.equal(readFileSync(ok, 'utf8'), 'old\n');
    assert.deepEqual(readdirSync(dir), ['ok.yaml']);
  });

  it('refuses to replace what is not a regular file', () => {
    mkdirSync(join(dir, 'folder.json'));
    assert.throws(
      () => writeFilesAtomically([{ path: join(dir, 'folder.json'), display: 'folder.json', bytes: bytes('{}') }]),
      (err: unknown) =>
        isDigestReleaseError(err, 'FILE_ACCESS') &&
        /^folder\.json cannot be written \(folder\.json is not a regular file\)\. No file was changed\.$/.test(
          err.message,
        ),
    );
  });
});
