import { DigestReleaseError } from '../errors';
import { isRecord } from '../json';
import { readJsonUpTo } from './bounded';
import { RegistryClient, pullScope } from './client';
import { describeErrors, readErrorBody } from './errorbody';
import { nextLink } from './link';
import { HttpResponse } from './http';

// The tags of a repository, following `Link` pagination. A repository that does not exist has none.

const PAGE_SIZE = 1000;
const MAX_PAGES = 1000;
/** A page of 1000 tags is some 100 KiB; registries that ignore `n` (or add digests per tag) send more, never this much. */
const MAX_PAGE_BYTES = 16 * 1024 * 1024;

export async function listTags(client: RegistryClient, repository: string): Promise<string[]> {
  const tags: string[] = [];
  let path: string | undefined = `/v2/${repository}/tags/list?n=${PAGE_SIZE}`;
  for (let page = 0; path !== undefined && page < MAX_PAGES; page++) {
    const response: HttpResponse = await client.request({ method: 'GET', path, scope: pullScope(repository) });
    if (response.status === 404) {
      await response.body?.cancel();
      return tags;
    }
    if (!response.ok) {
      const detail = describeErrors(await readErrorBody(response));
      throw new DigestReleaseError('REGISTRY_ERROR', `The registry ${client.registry} answered ${response.status} when asked for the tags of ${repository}${detail ? ` (${detail})` : ''}.`, {
        status: response.status,
      });
    }
    const body = await readJsonUpTo(response, { bytes: MAX_PAGE_BYTES, what: `The registry ${client.registry}'s tag list of ${repository}`, kind: 'a page of tags', code: 'REGISTRY_ERROR' });
    const list = isRecord(body) ? body.tags : undefined;
    if (list !== null && list !== undefined && !Array.isArray(list)) {
      throw new DigestReleaseError('REGISTRY_ERROR', `The registry ${client.registry} answered the tag list of ${repository} with something that is not a list.`);
    }
    for (const tag of list ?? []) if (typeof tag === 'string') tags.push(tag);
    path = nextLink(response.headers.get('link'), path);
  }
  return tags;
}
