import assert from 'node:assert/strict';
import { nextLink } from '../../src/http/link-header';

// The one Link-header reader behind tag and referrer pagination: the headers registries send.

describe('nextLink (Link pagination of tags and referrers)', () => {
  const cases: { name: string; header: string | null; current: string; next: string | undefined }[] = [
    { name: 'no header', header: null, current: '/v2/a/tags/list?n=2', next: undefined },
    { name: 'empty header', header: '', current: '/v2/a/tags/list?n=2', next: undefined },
    {
      name: 'distribution with relativeurls',
      header: '</v2/team/app/tags/list?last=b&n=2>; rel="next"',
      current: '/v2/team/app/tags/list?n=2',
      next: '/v2/team/app/tags/list?last=b&n=2',
    },
    {
      name: 'unquoted rel, no spaces',
      header: '</v2/a/referrers/sha256:1?n=1&last=x>;rel=next',
      current: '/v2/a/referrers/sha256:1',
      next: '/v2/a/referrers/sha256:1?n=1&last=x',
    },
    {
      name: 'several links: the one whose relation is next, wherever it stands',
      header: '</v2/a/tags/list?n=2>; rel="first", </v2/a/tags/list?last=d&n=2>; rel="next"',
      current: '/v2/a/tags/list?n=2',
      next: '/v2/a/tags/list?last=d&n=2',
    },
    {
      name: 'rel with several relation types, any case',
      header: '</v2/a/tags/list?last=d>; title="page two"; REL="prefetch Next"',
      current: '/v2/a/tags/list',
      next: '/v2/a/tags/list?last=d',
    },
    {
      name: 'a link that is not next',
      header: '</v2/a/tags/list?n=2>; rel="prev"',
      current: '/v2/a/tags/list',
      next: undefined,
    },
    {
      name: 'a target relative to the request, not the registry root',
      header: '<?last=c&n=2>; rel="next"',
      current: '/v2/a/tags/list?n=2',
      next: '/v2/a/tags/list?last=c&n=2',
    },
    {
      name: 'a target on another origin stays absolute (the client sends it no credentials)',
      header: '<https://cdn.example.net/page?token=1>; rel="next"',
      current: '/v2/a/tags/list',
      next: 'https://cdn.example.net/page?token=1',
    },
    {
      name: "a path after an absolute page resolves on that page's origin",
      header: '</page?token=2>; rel="next"',
      current: 'https://cdn.example.net/page?token=1',
      next: 'https://cdn.example.net/page?token=2',
    },
    {
      name: 'a comma inside the target does not split the link',
      header: '</v2/a/tags/list?last=a,b&n=2>; rel="next"',
      current: '/v2/a/tags/list',
      next: '/v2/a/tags/list?last=a,b&n=2',
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(nextLink(c.header, c.current), c.next));
  }
});
