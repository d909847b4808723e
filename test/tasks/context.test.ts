import assert from 'node:assert/strict';
import { isDigestReleaseError } from '../../src/errors';
import { FakeContext } from './fake-context';

// How every task reads its inputs (src/tasks/context.ts), through the fake context the task tests use.

const INVALID = (pattern: RegExp) => (err: unknown) =>
  isDigestReleaseError(err, 'INVALID_INPUT') && pattern.test(err.message);

describe('task inputs (TaskContext)', () => {
  it('trims an input and reads an empty one as not given', () => {
    const context = new FakeContext({ inputs: { image: '  a/b:1 \n', tag: '   ' } });
    assert.equal(context.input('image'), 'a/b:1');
    assert.equal(context.input('tag'), undefined);
    assert.equal(context.input('absent'), undefined);
  });

  it('a required input that is empty names itself and an example', () => {
    const context = new FakeContext({ inputs: { image: ' ' } });
    assert.throws(
      () => context.requiredInput('image', 'myacr.azurecr.io/app:1'),
      INVALID(/^The input image is required and is empty\. Set it, for example image: myacr\.azurecr\.io\/app:1$/),
    );
  });

  it('booleans are true or false in any case; anything else names the input, the value and the fix', () => {
    const context = new FakeContext({ inputs: { a: 'TRUE', b: 'False', c: 'yes' } });
    assert.equal(context.booleanInput('a', false), true);
    assert.equal(context.booleanInput('b', true), false);
    assert.equal(context.booleanInput('absent', true), true);
    assert.throws(
      () => context.booleanInput('c', false),
      INVALID(/^The input c has the value "yes": use true or false\.$/),
    );
  });

  it('a choice is matched in any case and answered as declared; anything else lists the choices', () => {
    const context = new FakeContext({ inputs: { mode: 'CHECK', other: 'fast' } });
    assert.equal(context.choiceInput('mode', ['pin', 'check'] as const, 'pin'), 'check');
    assert.equal(context.choiceInput('absent', ['pin', 'check'] as const, 'pin'), 'pin');
    assert.throws(
      () => context.choiceInput('other', ['pin', 'check'] as const, 'pin'),
      INVALID(/^The input other has the value "fast": use one of pin, check\.$/),
    );
  });

  it('a whole number outside its range names the range, what it counts and the default', () => {
    const context = new FakeContext({ inputs: { n: '7', zero: '0', half: '1.5' } });
    const range = { min: 1, max: 32, counts: 'blobs at once' };
    assert.equal(context.wholeNumberInput('n', 4, range), 7);
    assert.equal(context.wholeNumberInput('absent', 4, range), 4);
    for (const name of ['zero', 'half']) {
      assert.throws(
        () => context.wholeNumberInput(name, 4, range),
        INVALID(/: use a whole number from 1 to 32 \(blobs at once; 4 is the default\)\.$/),
      );
    }
  });

  it('a filePath input that arrives as the sources folder (the agent roots an empty one there) is not given', () => {
    const context = new FakeContext({
      inputs: { metadataFile: '/w/1/s/', other: '/w/1/s/out.json' },
      variables: { 'Build.SourcesDirectory': '/w/1/s' },
    });
    assert.equal(context.filePathInput('metadataFile'), undefined);
    assert.equal(context.filePathInput('other'), '/w/1/s/out.json');
  });

  it('the fake applies task.json defaults and refuses an input the task does not declare (a typo in a test)', () => {
    const context = new FakeContext({ task: 'DigestLock', inputs: { image: 'a/b:1' } });
    assert.equal(context.input('action'), 'lock');
    assert.throws(
      () => new FakeContext({ task: 'DigestLock', inputs: { imgae: 'a/b:1' } }),
      /DigestLock the input imgae, which its task\.json does not declare/,
    );
  });
});
