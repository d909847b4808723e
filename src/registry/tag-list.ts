import { DigestReleaseError } from '../errors';
import { isRecord, parseJson } from '../json';
import type { RegistryClient } from './client';
import { pullScope } from './sign-in';
import { readErrorBody, unexpectedAnswer } from './error-answers';
import { nextLink } from '../http/link-header';

// The tags of a repository, following `Link` pagination. A repository that does not exist has none.

const PAGE_SIZE = 1000;
const MAX_PAGES = 1000;
/** A page of 1000 tags is some 100 KiB; registries that ignore `n` (or add digests per tag) send more, never this much. */
const MAX_PAGE_BYTES = 16 * 1024 * 1024;

export async function listTags(client: RegistryClient, repository: string): Promise<string[]> {
  const tags: string[] = [];
  let path: string | undefined = `/v2/${repository}/tags/list?n=${PAGE_SIZE}`;
  for (let page = 0; path !== undefined && page < MAX_PAGES; page++) {
    const pagePath: string = path;
    const { response, body } = await client.readWhole(
      (stalls) => client.request({ method: 'GET', path: pagePath, scope: pullScope(repository), stalls }),
      {
        bytes: MAX_PAGE_BYTES,
        what: `The ${client.name}'s tag list of ${repository}`,
        kind: 'a page of tags',
        code: 'REGISTRY_ERROR',
      },
    );
    if (response.status === 404) {
      await response.body?.cancel();
      return tags;
    }
    if (!response.ok || body === undefined)
      throw unexpectedAnswer(
        client.name,
        response,
        `when asked for the tags of ${repository}`,
        await readErrorBody(response),
      );
    const doc = parseJson(body.toString('utf8'));
    const list = isRecord(doc) ? doc.tags : undefined;
    if (list !== null && list !== undefined && !Array.isArray(list)) {
      throw new DigestReleaseError(
        'REGISTRY_ERROR',
        `The ${client.name} answered the tag list of ${repository} with something that is not a list of tags. Check that nothing between the agent and the registry (a proxy) answers in its place.`,
      );
    }
    for (const tag of list ?? []) if (typeof tag === 'string') tags.push(tag);
    path = nextLink(response.headers.get('link'), path);
  }
  return tags;
}
