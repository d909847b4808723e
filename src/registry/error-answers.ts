import type { ErrorCode } from '../errors';
import { DigestReleaseError } from '../errors';
import { isRecord } from '../json';
import { readJsonUpTo } from '../http/body-limit';
import type { HttpResponse } from '../http/response';
import { retriesNote } from '../http/failures';

// The distribution error envelope: {"errors":[{"code","message","detail"}]}. Registries fill it
// unevenly (ACR's detail is sometimes a list, sometimes an object), so only code and message are read.

export interface RegistryErrorEntry {
  readonly code: string;
  readonly message: string;
}

/** An error envelope is a few lines; a larger error answer (a proxy's page, a stream) is not read on. */
export const MAX_ERROR_BODY_BYTES = 256 * 1024;

export async function readErrorBody(response: HttpResponse): Promise<RegistryErrorEntry[]> {
  // The status is the failure; a body too large or broken off only leaves it unexplained.
  const doc = await readJsonUpTo(response, {
    bytes: MAX_ERROR_BODY_BYTES,
    what: 'The error answer',
    kind: 'an error answer',
    code: 'REGISTRY_ERROR',
  }).catch(() => undefined);
  if (!isRecord(doc) || !Array.isArray(doc.errors)) return [];
  const entries: RegistryErrorEntry[] = [];
  for (const item of doc.errors) {
    if (!isRecord(item)) continue;
    const { code, message } = item;
    entries.push({ code: typeof code === 'string' ? code : '', message: typeof message === 'string' ? message : '' });
  }
  return entries;
}

export function describeErrors(entries: readonly RegistryErrorEntry[]): string {
  return entries.map((e) => [e.code, e.message].filter((part) => part).join(': ')).join('; ');
}

/** A refusal as messages quote it: the registry's error entries, and ` (CODE: message; …)` or ''. */
export async function readRefusal(
  response: HttpResponse,
): Promise<{ readonly entries: RegistryErrorEntry[]; readonly suffix: string }> {
  const entries = response.body ? await readErrorBody(response) : [];
  const detail = describeErrors(entries);
  return { entries, suffix: detail ? ` (${detail})` : '' };
}

/** NAME_UNKNOWN for a write or blob request to a repository the registry does not have. */
export function repositoryUnknown(
  registry: string,
  repository: string,
  suffix: string,
  status: number,
): DigestReleaseError {
  return new DigestReleaseError(
    'NAME_UNKNOWN',
    `The repository ${registry}/${repository} does not exist${suffix}. Check the repository name.`,
    { status },
  );
}

/**
 * The error for an answer its caller has no better words for: who answered what to which
 * request, the registry's own words, and what to do next. `name` is the registry as messages call
 * it ("registry myacr.azurecr.io"); `asked` finishes "answered 500 …" ("for app:1.0", "when asked
 * to read the blob …").
 */
export function unexpectedAnswer(
  name: string,
  response: HttpResponse,
  asked: string,
  entries: readonly RegistryErrorEntry[],
): DigestReleaseError {
  const status = response.status;
  const detail = describeErrors(entries);
  const said = `The ${name} answered ${status} ${asked}${detail ? ` (${detail})` : ''}.`;
  let next = retriesNote(response);
  if (next === '') {
    if (status >= 300 && status < 400) {
      next = ` It redirected${response.headers.get('location') ? '' : ' without a Location to follow'}: check the registry's address, and that nothing between the agent and the registry (a proxy, a sign-in page) answers in its place.`;
    } else if (status === 429 || status >= 500) {
      next = ' The registry is failing or overloaded: check its health (or status page), then run again.';
    } else {
      next =
        " Check that this is the registry's address and that it speaks the OCI distribution API, and that nothing between the agent and the registry (a proxy) answers in its place.";
    }
  }
  return new DigestReleaseError('REGISTRY_ERROR', `${said}${next}`, { status });
}

/** What was asked of the registry, for reading its error answer. */
export type Asked = 'manifest read' | 'manifest write' | 'blob read' | 'blob write' | 'properties';

/** The codes an error answer of a registry maps to; anything else is REGISTRY_ERROR (unexpectedAnswer). */
export type AnswerCode = Extract<
  ErrorCode,
  'DENIED' | 'NAME_UNKNOWN' | 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN' | 'DIGEST_MISMATCH'
>;

/**
 * The one mapping from a registry's error answer (its HTTP status and the distribution error codes
 * of its envelope) to our error codes, for every operation on manifests, blobs and ACR properties.
 * Undefined when the answer means none of them: the caller reports it with unexpectedAnswer. The
 * caller writes the message (what was denied or is missing, and the fix); the code is decided here.
 * A 404 by itself says only "not here": the repository is missing when the registry says
 * NAME_UNKNOWN, else what was read (a manifest, a blob, a tag's or manifest's properties) is.
 */
export function answerCode(
  status: number,
  entries: readonly RegistryErrorEntry[],
  asked: Asked,
): AnswerCode | undefined {
  const codes = new Set(entries.map((entry) => entry.code));
  if (status === 403) return 'DENIED';
  if (asked === 'manifest write' && (codes.has('MANIFEST_BLOB_UNKNOWN') || codes.has('BLOB_UNKNOWN')))
    return 'BLOB_UNKNOWN';
  if (status === 404 && codes.has('NAME_UNKNOWN')) return 'NAME_UNKNOWN';
  if (status === 404 && (asked === 'manifest read' || asked === 'properties')) return 'MANIFEST_UNKNOWN';
  if (status === 404 && asked === 'blob read') return 'BLOB_UNKNOWN';
  if (status === 400 && (asked === 'blob read' || asked === 'blob write') && codes.has('DIGEST_INVALID'))
    return 'DIGEST_MISMATCH';
  return undefined;
}
