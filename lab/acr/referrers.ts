import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Relay, Upstream } from './wire';
import { DIGEST, MANIFEST_ACCEPT, OCI_INDEX_MEDIA_TYPE, TAG_SCHEMA, jsonRecord, parseJsonRecord, send } from './wire';

// The OCI referrers API, as ACR serves it (DigestEvidence, issue 8).
//
// ACR answers GET /v2/<repo>/referrers/<digest> with an OCI index of the manifests whose subject is
// <digest>, each described with its artifactType and annotations; ?artifactType= filters, and the
// answer then says OCI-Filters-Applied: artifactType. A manifest PUT that has a subject is answered
// with OCI-Subject: <digest>, so clients do not keep the tag-schema fallback themselves.
//
// Where the index lives: the front keeps no image data, and the registry behind it (distribution)
// has no referrers API. So the front keeps ACR's index in that registry, in the one format
// distribution has for it, the sha256-<hex> tag-schema index, which the front (not the client)
// writes when a manifest with a subject is PUT through it. Every answer is derived from the registry
// behind: each manifest the index lists is read back, must hash to its digest and name the subject,
// and is described from its own bytes; one deleted since is left out. A manifest with a subject
// pushed straight to the registry behind, with a client-kept tag index, is found the same way, as
// ACR finds every manifest with a subject. The sha256-<hex> tags are this front's storage and not
// something ACR shows, so the tag list through the front leaves them out.

export interface ReferrerCounts {
  /** GET /v2/<repo>/referrers/<digest> answered. */
  lists: number;
  /** Manifest PUTs with a subject, indexed and answered with OCI-Subject. */
  subjectPuts: number;
  /** PUTs of a sha256-<hex> tag through the front: a client keeping the tag-schema fallback itself. */
  tagSchemaPuts: number;
}

interface ReferrersDeps {
  readonly upstream: Upstream;
  repositoryExists(repository: string): Promise<boolean>;
}

interface ReferrerDescriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Record<string, string>;
}

function subjectDigest(doc: Record<string, unknown>): string | undefined {
  const digest = jsonRecord(doc.subject)?.digest;
  return typeof digest === 'string' && DIGEST.test(digest) ? digest : undefined;
}

/** The descriptor the referrers API gives a manifest, from its own bytes (image-spec: artifactType, else an image's config media type). */
function describeReferrer(
  doc: Record<string, unknown>,
  size: number,
  digest: string,
  contentType: string,
): ReferrerDescriptor {
  const configType = jsonRecord(doc.config)?.mediaType;
  const artifactType =
    typeof doc.artifactType === 'string' ? doc.artifactType : typeof configType === 'string' ? configType : undefined;
  const annotations = jsonRecord(doc.annotations);
  const strings = annotations
    ? Object.fromEntries(
        Object.entries(annotations).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
      )
    : undefined;
  return {
    mediaType: typeof doc.mediaType === 'string' ? doc.mediaType : contentType.split(';')[0]!.trim(),
    digest,
    size,
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(strings ? { annotations: strings } : {}),
  };
}

export function referrersApi(deps: ReferrersDeps): {
  readonly counts: ReferrerCounts;
  /** `<repository>\n<digest>` of every referrers index the front wrote: its storage, not ACR's. */
  readonly ownIndexes: ReadonlySet<string>;
  answer(
    req: IncomingMessage,
    res: ServerResponse,
    target: { repository: string; kind: string; rest: string },
    body: Buffer,
    relay: Relay,
  ): Promise<boolean>;
} {
  const counts: ReferrerCounts = { lists: 0, subjectPuts: 0, tagSchemaPuts: 0 };
  const ownIndexes = new Set<string>();
  const chains = new Map<string, Promise<unknown>>();
  /** One index update at a time per subject: each is a read, a change and a write. */
  const serial = <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const next = (chains.get(key) ?? Promise.resolve()).then(work, work);
    chains.set(
      key,
      next.catch(() => undefined),
    );
    return next;
  };
  const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const indexTag = (subject: string): string => subject.replace(':', '-');

  const readManifest = async (
    repository: string,
    reference: string,
  ): Promise<{ bytes: Buffer; contentType: string } | undefined> => {
    const answer = await deps.upstream('GET', `/v2/${repository}/manifests/${reference}`, {
      Accept: `${MANIFEST_ACCEPT}, ${OCI_INDEX_MEDIA_TYPE}`,
    });
    const bytes = Buffer.from(await answer.arrayBuffer());
    if (answer.status === 404) return undefined;
    if (answer.status !== 200)
      throw new Error(`the registry behind the front answered ${answer.status} for ${repository}:${reference}`);
    return { bytes, contentType: answer.headers.get('content-type') ?? '' };
  };

  const referrersOf = async (repository: string, subject: string): Promise<ReferrerDescriptor[]> => {
    const index = await readManifest(repository, indexTag(subject));
    const listed = index ? parseJsonRecord(index.bytes)?.manifests : undefined;
    const found: ReferrerDescriptor[] = [];
    for (const entry of Array.isArray(listed) ? listed : []) {
      const digest = jsonRecord(entry)?.digest;
      if (typeof digest !== 'string' || !DIGEST.test(digest) || found.some((d) => d.digest === digest)) continue;
      const manifest = await readManifest(repository, digest);
      if (!manifest) continue; // deleted since it was indexed
      if (sha256(manifest.bytes) !== digest)
        throw new Error(
          `the registry behind the front served ${repository}@${digest} with bytes that hash to ${sha256(manifest.bytes)}`,
        );
      const doc = parseJsonRecord(manifest.bytes);
      if (!doc || subjectDigest(doc) !== subject) continue;
      found.push(describeReferrer(doc, manifest.bytes.length, digest, manifest.contentType));
    }
    return found;
  };

  const addToIndex = (repository: string, subject: string, descriptor: ReferrerDescriptor): Promise<void> =>
    serial(`${repository}\n${subject}`, async () => {
      const tag = indexTag(subject);
      const current = await readManifest(repository, tag);
      const listed = current ? parseJsonRecord(current.bytes)?.manifests : undefined;
      const manifests = (Array.isArray(listed) ? listed : []).filter(
        (entry) => jsonRecord(entry)?.digest !== descriptor.digest,
      );
      const bytes = Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX_MEDIA_TYPE, manifests: [...manifests, descriptor] }),
      );
      ownIndexes.add(`${repository}\n${sha256(bytes)}`);
      const answer = await deps.upstream(
        'PUT',
        `/v2/${repository}/manifests/${tag}`,
        { 'Content-Type': OCI_INDEX_MEDIA_TYPE },
        bytes,
      );
      await answer.body?.cancel();
      if (answer.status !== 201)
        throw new Error(
          `the registry behind the front refused the referrers index ${repository}:${tag} (${answer.status})`,
        );
    });

  const list = async (
    res: ServerResponse,
    repository: string,
    subject: string,
    query: URLSearchParams,
  ): Promise<void> => {
    counts.lists++;
    if (!DIGEST.test(subject))
      return send(res, 400, {
        errors: [{ code: 'DIGEST_INVALID', message: 'provided digest did not match uploaded content' }],
      });
    if (!(await deps.repositoryExists(repository)))
      return send(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: `repository "${repository}" is not found` }] });
    const all = await referrersOf(repository, subject);
    const filter = query.get('artifactType');
    const manifests = filter === null ? all : all.filter((d) => d.artifactType === filter);
    send(
      res,
      200,
      { schemaVersion: 2, mediaType: OCI_INDEX_MEDIA_TYPE, manifests },
      { 'Content-Type': OCI_INDEX_MEDIA_TYPE, ...(filter !== null ? { 'OCI-Filters-Applied': 'artifactType' } : {}) },
    );
  };

  const tagList = async (res: ServerResponse, repository: string, search: string): Promise<void> => {
    const answer = await deps.upstream('GET', `/v2/${repository}/tags/list${search}`, {});
    const text = Buffer.from(await answer.arrayBuffer());
    const doc = parseJsonRecord(text);
    const link = answer.headers.get('link');
    const headers: Record<string, string> = link ? { Link: link } : {};
    if (answer.status !== 200 || !doc) return send(res, answer.status, doc ?? text.toString('utf8'), headers);
    const tags = Array.isArray(doc.tags)
      ? doc.tags.filter((tag) => typeof tag !== 'string' || !TAG_SCHEMA.test(tag))
      : doc.tags;
    send(res, 200, { ...doc, tags }, headers);
  };

  return {
    counts,
    ownIndexes,
    /** True when the request was the referrers API's to answer (and is answered). */
    answer: async (req, res, target, body, relay) => {
      const method = req.method ?? 'GET';
      const url = new URL(req.url ?? '/', 'https://front.invalid');
      if (target.kind === 'referrers' && method === 'GET') {
        await list(res, target.repository, decodeURIComponent(target.rest), url.searchParams);
        return true;
      }
      if (target.kind === 'tags' && target.rest === 'list' && method === 'GET') {
        await tagList(res, target.repository, url.search);
        return true;
      }
      if (target.kind !== 'manifests' || method !== 'PUT') return false;
      if (TAG_SCHEMA.test(decodeURIComponent(target.rest))) counts.tagSchemaPuts++;
      const doc = parseJsonRecord(body);
      const subject = doc ? subjectDigest(doc) : undefined;
      if (!doc || subject === undefined) return false;
      await relay(req, res, body, async (answer): Promise<Record<string, string>> => {
        if (answer.status !== 201) return {};
        const digest = answer.headers.get('docker-content-digest') ?? sha256(body);
        await addToIndex(
          target.repository,
          subject,
          describeReferrer(doc, body.length, digest, req.headers['content-type'] ?? ''),
        );
        counts.subjectPuts++;
        return { 'OCI-Subject': subject };
      });
      return true;
    },
  };
}
