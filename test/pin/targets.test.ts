import assert from 'node:assert/strict';
import { isDigestReleaseError } from '../../src/errors';
import { inputLines, parseTargets } from '../../src/pin/targets';
import { digestOf } from './helpers';

describe('pin: the images input', () => {
  const web = digestOf('web');

  it('reads a digest reference and matches its normalised name', () => {
    const [target] = parseTargets([`nginx@${web}`]);
    assert.equal(target!.digest, web);
    assert.deepEqual([...target!.matches], ['docker.io/library/nginx']);
    assert.equal(target!.rename, undefined);
  });

  it('reads name=ref and matches both the name and the new repository', () => {
    const [target] = parseTargets([`app=myacr.azurecr.io/team/app:1.0@${web}`]);
    assert.deepEqual([...target!.matches].sort(), ['docker.io/library/app', 'myacr.azurecr.io/team/app']);
    assert.equal(target!.rename, 'myacr.azurecr.io/team/app');
  });

  it('skips blank lines and # comments', () => {
    assert.deepEqual(inputLines(`\n  a@${web}\n# note\n\r\n`), [`a@${web}`]);
    assert.deepEqual(inputLines(undefined), []);
  });

  const bad: Array<[string, RegExp]> = [
    ['myacr.azurecr.io/app:1.0', /has no digest.*\$\(capture\.IMAGE_REF\)/],
    [`myacr.azurecr.io/App@${web}`, /lowercase/],
    ['app@sha256:abc', /not "sha256:" followed by 64/],
    [`=myacr.azurecr.io/app@${web}`, /name before "=" is empty/],
    [`app:1.0=myacr.azurecr.io/app@${web}`, /has a tag or digest. Write only the repository name \(app\)/],
    ['app=', /nothing follows "="/],
  ];
  for (const [line, message] of bad) {
    it(`refuses "${line}" naming the input, the line and the fix`, () => {
      assert.throws(
        () => parseTargets([line]),
        (err: unknown) =>
          isDigestReleaseError(err, 'INVALID_INPUT') &&
          err.message.includes(`The input images has the line "${line}"`) &&
          message.test(err.message),
      );
    });
  }

  it('refuses two lines that pin one repository to different digests', () => {
    assert.throws(
      () => parseTargets([`nginx@${web}`, `docker.io/library/nginx@${digestOf('other')}`]),
      /already pins to/,
    );
  });

  it('keeps one of two identical lines', () => {
    assert.equal(parseTargets([`nginx@${web}`, `docker.io/nginx@${web}`]).length, 1);
  });
});
