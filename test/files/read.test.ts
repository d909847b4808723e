import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDigestReleaseError } from '../../src/errors';
import type { LocalInput } from '../../src/files/read';
import { hashLocalFile, isMissingFile, readLocalFile } from '../../src/files/read';

describe('files: reading a local file within a limit', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'digest-release-read-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const input = (limit: number): LocalInput => ({
    what: 'The input report has the value "x"',
    limit,
    kind: 'a report',
    code: 'FILE_ACCESS',
    fix: 'Give another file.',
  });
  const refused = (pattern: RegExp) => (err: unknown) =>
    isDigestReleaseError(err, 'FILE_ACCESS') && pattern.test(err.message);

  it('reads a regular file whole, and hashes one in chunks without holding it', () => {
    const path = join(dir, 'a.json');
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 17, 'ab');
    writeFileSync(path, bytes);
    assert.deepEqual(readLocalFile(path, input(bytes.length)), bytes);
    assert.deepEqual(hashLocalFile(path, input(bytes.length)), {
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
    });
    writeFileSync(path, '');
    assert.equal(readLocalFile(path, input(10)).length, 0);
  });

  it('refuses a file over the limit, naming the input, the size and the limit', () => {
    const path = join(dir, 'big.json');
    writeFileSync(path, Buffer.alloc(2049));
    for (const read of [readLocalFile, hashLocalFile]) {
      assert.throws(
        () => read(path, input(2048)),
        refused(
          /^The input report has the value "x": the file is 2\.0 KiB \(2049 bytes\), over the 2 KiB limit for a report; it was not read\. Give another file\.$/,
        ),
      );
    }
  });

  it('refuses /dev/zero instead of reading forever', () => {
    for (const read of [readLocalFile, hashLocalFile]) {
      assert.throws(
        () => read('/dev/zero', input(1024)),
        refused(
          /^The input report has the value "x": it is a character device, not a regular file; only regular files are read\. Give another file\.$/,
        ),
      );
    }
  });

  it('refuses a named pipe without waiting for a writer, and a directory', () => {
    const fifo = join(dir, 'pipe');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    assert.throws(
      () => readLocalFile(fifo, input(1024)),
      refused(/: it is a named pipe, not a regular file; only regular files are read\./),
    );
    assert.throws(() => readLocalFile(dir, input(1024)), refused(/: it is a directory, not a regular file;/));
  });

  it('says when a file does not exist, so an optional file can be told from a broken one', () => {
    let error: unknown;
    try {
      readLocalFile(join(dir, 'none.json'), input(10));
    } catch (err) {
      error = err;
    }
    assert.ok(isMissingFile(error));
    assert.ok(
      refused(/^The input report has the value "x": the file cannot be read \(ENOENT: .*\)\. Give another file\.$/)(
        error,
      ),
    );
    assert.ok(!isMissingFile(new Error('other')));
  });
});
