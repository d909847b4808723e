import assert from 'node:assert/strict';
import { isDigestReleaseError } from '../../src/errors';
import { sha256Of } from '../../src/reference/digest';
import { checkClaimedDigest } from '../../src/registry/manifests';

// What a registry's Docker-Content-Digest header may and may not say, as a table.

const RIGHT = sha256Of(new TextEncoder().encode('right'));
const OTHER = sha256Of(new TextEncoder().encode('other'));

function answer(header: string | undefined): { headers: { get(name: string): string | null } } {
  return {
    headers: {
      get: (name) => (name.toLowerCase() === 'docker-content-digest' && header !== undefined ? header : null),
    },
  };
}

const mismatch = (claimed: string): string => `claims ${claimed}`;
const missing = (claimed: string | undefined): string => `no digest (${claimed ?? 'none'})`;

describe('checkClaimedDigest', () => {
  const cases: {
    name: string;
    header: string | undefined;
    required: boolean;
    expected: typeof RIGHT | undefined;
    result: string | undefined;
    error?: string;
  }[] = [
    {
      name: 'the digest expected, with white space',
      header: ` ${RIGHT} `,
      required: false,
      expected: RIGHT,
      result: RIGHT,
    },
    { name: 'no header when none is required', header: undefined, required: false, expected: RIGHT, result: undefined },
    {
      name: 'another digest',
      header: OTHER,
      required: false,
      expected: RIGHT,
      result: undefined,
      error: `DIGEST_MISMATCH claims ${OTHER}`,
    },
    {
      name: 'no header when one is required',
      header: undefined,
      required: true,
      expected: undefined,
      result: undefined,
      error: 'REGISTRY_ERROR no digest (none)',
    },
    {
      name: 'a header that is not a digest when one is required',
      header: 'latest',
      required: true,
      expected: undefined,
      result: undefined,
      error: 'REGISTRY_ERROR no digest (latest)',
    },
    { name: 'any digest when none is expected', header: OTHER, required: true, expected: undefined, result: OTHER },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const check = { expected: c.expected, mismatch, ...(c.required ? { missing } : {}) };
      if (c.error === undefined) {
        assert.equal(checkClaimedDigest(answer(c.header), check), c.result);
        return;
      }
      const [code, ...message] = c.error.split(' ');
      assert.throws(
        () => checkClaimedDigest(answer(c.header), check),
        (err: unknown) => isDigestReleaseError(err, code as 'DIGEST_MISMATCH') && err.message === message.join(' '),
      );
    });
  }
});
