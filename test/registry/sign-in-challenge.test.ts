import assert from 'node:assert/strict';
import { parseChallenge } from '../../src/registry/sign-in';

describe('WWW-Authenticate challenges', () => {
  const cases: [header: string | null, expected: ReturnType<typeof parseChallenge>][] = [
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/nginx:pull',
        },
      },
    ],
    [
      // ACR, after a token that lacked the scope
      'Bearer realm="https://x.azurecr.io/oauth2/token",service="x.azurecr.io",scope="repository:a/b:metadata_write",error="insufficient_scope"',
      {
        scheme: 'bearer',
        params: {
          realm: 'https://x.azurecr.io/oauth2/token',
          service: 'x.azurecr.io',
          scope: 'repository:a/b:metadata_write',
          error: 'insufficient_scope',
        },
      },
    ],
    ['Basic realm="Registry Realm"', { scheme: 'basic', params: { realm: 'Registry Realm' } }],
    ['basic realm=plain', { scheme: 'basic', params: { realm: 'plain' } }],
    [
      'Bearer realm = "https://r/t" , service = "s"',
      { scheme: 'bearer', params: { realm: 'https://r/t', service: 's' } },
    ],
    ['Bearer realm="a \\"quoted\\" realm"', { scheme: 'bearer', params: { realm: 'a "quoted" realm' } }],
    ['Negotiate, Basic realm="fallback"', { scheme: 'basic', params: { realm: 'fallback' } }],
    [
      'Bearer realm="https://r/t",scope="repository:a:pull,push"',
      { scheme: 'bearer', params: { realm: 'https://r/t', scope: 'repository:a:pull,push' } },
    ],
    ['Negotiate', undefined],
    ['', undefined],
    [null, undefined],
  ];
  for (const [header, expected] of cases) {
    it(`reads ${JSON.stringify(header)}`, () => {
      assert.deepEqual(parseChallenge(header), expected);
    });
  }
});
