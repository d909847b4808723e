import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  folder,
  folderHolding,
  foldersText,
  isWithin,
  makeFolders,
  realLocation,
} from '../../src/files/allowed-folders';

describe('files: the folders a task may write to', () => {
  let dir: string;
  beforeEach(() => (dir = realpathSync(mkdtempSync(join(tmpdir(), 'digest-release-folders-')))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('judges a path by where it really ends up: .. and links followed, missing parts appended', () => {
    mkdirSync(join(dir, 'work', 's'), { recursive: true });
    mkdirSync(join(dir, 'outside'));
    symlinkSync(join(dir, 'outside'), join(dir, 'work', 's', 'out'));
    symlinkSync(join(dir, 'outside', 'nothing-yet'), join(dir, 'work', 's', 'dangling'));
    assert.equal(realLocation(join(dir, 'work', 's', 'deploy', 'x.yaml')), join(dir, 'work', 's', 'deploy', 'x.yaml'));
    assert.equal(realLocation(join(dir, 'work', 's', '..', '..', 'outside', 'x.yaml')), join(dir, 'outside', 'x.yaml'));
    assert.equal(realLocation(join(dir, 'work', 's', 'out', 'new', 'x.yaml')), join(dir, 'outside', 'new', 'x.yaml'));
    // A dangling link is replaced by a rename, never written through.
    assert.equal(realLocation(join(dir, 'work', 's', 'dangling')), join(dir, 'work', 's', 'dangling'));
  });

  it('tells inside from outside at path boundaries', () => {
    assert.ok(isWithin('/w/1', '/w/1'));
    assert.ok(isWithin('/w/1', '/w/1/s/x.yaml'));
    assert.ok(isWithin('/w/1', '/w/1/..x'));
    assert.ok(!isWithin('/w/1', '/w/10/x'));
    assert.ok(!isWithin('/w/1', '/w'));
    assert.ok(!isWithin('/w/1', '/etc/passwd'));
  });

  it('names the outermost folders once in messages', () => {
    const folders = [
      folder('Pipeline.Workspace', join(dir, '1')),
      folder('Build.SourcesDirectory', join(dir, '1', 's')),
      folder('Agent.BuildDirectory', join(dir, '1')),
      folder('Agent.TempDirectory', join(dir, '_temp')),
    ];
    assert.equal(
      foldersText(folders),
      `Pipeline.Workspace (${join(dir, '1')}), Agent.TempDirectory (${join(dir, '_temp')})`,
    );
    assert.equal(folderHolding(folders, join(dir, '1', 's', 'x'))?.name, 'Pipeline.Workspace');
    assert.equal(folderHolding(folders, join(dir, '2', 'x')), undefined);
  });

  it('creates missing folders one at a time, and stops at one that leads out', () => {
    const work = join(dir, 'work');
    mkdirSync(work);
    mkdirSync(join(dir, 'outside'));
    const folders = [folder('Pipeline.Workspace', work)];
    assert.deepEqual(makeFolders(join(work, 'a', 'b'), folders), { real: join(work, 'a', 'b') });
    symlinkSync(join(dir, 'outside'), join(work, 'out'));
    assert.deepEqual(makeFolders(join(work, 'out', 'new'), folders), { outside: join(dir, 'outside') });
    assert.deepEqual(makeFolders(join(work, '..', 'elsewhere'), folders), { outside: dir });
    assert.throws(() => realpathSync(join(dir, 'outside', 'new')), /ENOENT/, 'nothing was created outside');
  });
});
