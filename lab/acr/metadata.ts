import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { AcrSignIn } from './signin';
import type { Upstream } from './wire';
import { DIGEST, MANIFEST_ACCEPT, OCI_INDEX_MEDIA_TYPE, TAG_SCHEMA, jsonRecord, parseJsonRecord, send } from './wire';

// ACR's metadata API, /acr/v1: the properties of a tag or a manifest and their changeable
// attributes (writeEnabled, deleteEnabled, readEnabled, listEnabled), read, patched, and a tag
// deleted there; the listing of every manifest of a repository. The attributes are the only state
// the front keeps of an image, and ACR enforces them on the registry API too: refusing a push over a
// locked tag and a delete of a locked manifest with 405 REGISTRY_DISALLOWED_OPERATION.

export interface Attributes {
  deleteEnabled: boolean;
  writeEnabled: boolean;
  readEnabled: boolean;
  listEnabled: boolean;
}

export interface MetadataDeps {
  host(): string;
  readonly upstream: Upstream;
  /** The storage of the registry behind (its filesystem rootdirectory), which the manifest listing is read from. */
  readonly upstreamStorage: string;
  readonly signIn: AcrSignIn;
  repositoryExists(repository: string): Promise<boolean>;
  /** `<repository>\n<digest>` of the referrers indexes the front wrote: its storage, not ACR's (referrers.ts). */
  readonly ownIndexes: ReadonlySet<string>;
}

export interface AcrMetadata {
  tagAttributes(repository: string, tag: string): Attributes | undefined;
  manifestAttributes(repository: string, digest: string): Attributes | undefined;
  /** Plays another writer that puts a manifest's attributes back right after every PATCH; returns what stops it. */
  revertPatches(repository: string, digest: string): () => void;
  /** /acr/v1/<rawPath>, answered. */
  answer(req: IncomingMessage, res: ServerResponse, rawPath: string, body: Buffer): Promise<void>;
  /** True when ACR refuses this /v2 manifest request for a lock (and the refusal is answered). */
  refuses(req: IncomingMessage, res: ServerResponse, repository: string, reference: string): boolean;
}

interface TagState {
  attributes: Attributes;
  digest: string;
  readonly createdTime: string;
  lastUpdateTime: string;
}

interface ManifestState {
  attributes: Attributes;
  readonly createdTime: string;
  lastUpdateTime: string;
}

const DISALLOWED = {
  errors: [
    {
      code: 'REGISTRY_DISALLOWED_OPERATION',
      message:
        'The operation is disallowed on this registry, repository or image. View troubleshooting steps at https://aka.ms/acr/faq/#why-does-my-pull-or-push-request-fail-with-disallowed-operation',
      detail: {},
    },
  ],
};
const UNSUPPORTED = { errors: [{ code: 'UNSUPPORTED', message: 'The operation is unsupported.' }] };

const defaults = (): Attributes => ({ deleteEnabled: true, writeEnabled: true, readEnabled: true, listEnabled: true });
const now = (): string => new Date().toISOString();
const key = (repository: string, reference: string): string => `${repository}\n${reference}`;

/** Sets the attributes a PATCH body names; false when the body is not a JSON object. */
function applyPatch(attributes: Attributes, body: Buffer): boolean {
  const patch = parseJsonRecord(body);
  if (!patch) return false;
  for (const name of ['deleteEnabled', 'writeEnabled', 'readEnabled', 'listEnabled'] as const) {
    const value = patch[name];
    if (typeof value === 'boolean') attributes[name] = value;
  }
  return true;
}

export function acrMetadata(deps: MetadataDeps): AcrMetadata {
  const tags = new Map<string, TagState>();
  const manifests = new Map<string, ManifestState>();
  const reverted = new Set<string>();

  const manifestHead = async (
    repository: string,
    reference: string,
  ): Promise<{ digest: string; size: number; mediaType: string } | undefined> => {
    const answer = await deps.upstream('HEAD', `/v2/${repository}/manifests/${reference}`, { Accept: MANIFEST_ACCEPT });
    const digest = answer.headers.get('docker-content-digest');
    if (answer.status !== 200 || !digest) return undefined;
    return {
      digest,
      size: Number(answer.headers.get('content-length') ?? '0'),
      mediaType: answer.headers.get('content-type') ?? '',
    };
  };

  const tagState = (repository: string, tag: string, digest: string): TagState => {
    let state = tags.get(key(repository, tag));
    if (!state || (state.digest !== digest && state.attributes.writeEnabled)) {
      state = {
        attributes: state?.attributes ?? defaults(),
        digest,
        createdTime: state?.createdTime ?? now(),
        lastUpdateTime: now(),
      };
      tags.set(key(repository, tag), state);
    }
    return state;
  };
  const manifestState = (repository: string, digest: string): ManifestState => {
    let state = manifests.get(key(repository, digest));
    if (!state) {
      state = { attributes: defaults(), createdTime: now(), lastUpdateTime: now() };
      manifests.set(key(repository, digest), state);
    }
    return state;
  };
  /** Locked against delete: a locked manifest, or a locked tag that points at it. */
  const manifestDeleteLocked = (repository: string, digest: string): boolean => {
    const manifest = manifests.get(key(repository, digest));
    if (manifest && (!manifest.attributes.writeEnabled || !manifest.attributes.deleteEnabled)) return true;
    for (const [at, tag] of tags) {
      if (
        at.startsWith(`${repository}\n`) &&
        tag.digest === digest &&
        (!tag.attributes.writeEnabled || !tag.attributes.deleteEnabled)
      )
        return true;
    }
    return false;
  };

  // --- What ACR tells of a stored manifest ---
  //
  // Shape from Azure/azure-sdk-for-js recording_should_list_registry_manifests.js (test/fixtures/acr-wire):
  // {registry, imageName, manifests: [{digest, imageSize, createdTime, lastUpdateTime, mediaType,
  // [tags], changeableAttributes}]}, ordered by digest, metadata_read; pages follow ?n= and ?last=
  // with a Link to the next, as the tag listing's recording shows them. The registry behind has no
  // such listing, so the manifests are read from its storage (a revision link per manifest, a
  // current link per tag), which is what it serves. The front's own referrers indexes (sha256-<hex>
  // tags, see referrers.ts) are not ACR's and are left out, as in the tag list.
  const blobData = (digest: string): string =>
    join(
      deps.upstreamStorage,
      'docker',
      'registry',
      'v2',
      'blobs',
      'sha256',
      digest.slice(7, 9),
      digest.slice(7),
      'data',
    );
  /** What ACR tells of a manifest beside its digest: size, media type, and the platform of a single image. */
  const storedFacts = (
    digest: string,
  ): { size: number; mediaType: string; architecture?: string; os?: string } | undefined => {
    const data = blobData(digest);
    if (!existsSync(data)) return undefined;
    const doc = parseJsonRecord(readFileSync(data));
    const mediaType =
      typeof doc?.mediaType === 'string'
        ? doc.mediaType
        : Array.isArray(doc?.manifests)
          ? OCI_INDEX_MEDIA_TYPE
          : 'application/vnd.oci.image.manifest.v1+json';
    const configDigest = jsonRecord(doc?.config)?.digest;
    const config =
      typeof configDigest === 'string' && DIGEST.test(configDigest) && existsSync(blobData(configDigest))
        ? parseJsonRecord(readFileSync(blobData(configDigest)))
        : undefined;
    const platform =
      typeof config?.architecture === 'string' && typeof config.os === 'string'
        ? { architecture: config.architecture, os: config.os }
        : {};
    return { size: statSync(data).size, mediaType, ...platform };
  };
  const storedManifests = (repository: string): { digest: string; tags: string[] }[] => {
    const repo = join(deps.upstreamStorage, 'docker', 'registry', 'v2', 'repositories', repository, '_manifests');
    const revisions = join(repo, 'revisions', 'sha256');
    if (!existsSync(revisions)) return [];
    const tagsOf = new Map<string, string[]>();
    const hidden = new Set<string>();
    const tagDir = join(repo, 'tags');
    for (const tag of existsSync(tagDir) ? readdirSync(tagDir) : []) {
      const link = join(tagDir, tag, 'current', 'link');
      if (!existsSync(link)) continue;
      const digest = readFileSync(link, 'utf8').trim();
      if (TAG_SCHEMA.test(tag)) hidden.add(digest);
      else tagsOf.set(digest, [...(tagsOf.get(digest) ?? []), tag]);
    }
    const out: { digest: string; tags: string[] }[] = [];
    for (const hex of readdirSync(revisions)) {
      const digest = `sha256:${hex}`;
      if (
        !existsSync(join(revisions, hex, 'link')) ||
        hidden.has(digest) ||
        deps.ownIndexes.has(`${repository}\n${digest}`)
      )
        continue;
      out.push({ digest, tags: (tagsOf.get(digest) ?? []).sort() });
    }
    return out.sort((a, b) => (a.digest < b.digest ? -1 : 1));
  };

  // --- /acr/v1/<repository>/_manifests: every manifest, tagged or not, with its attributes ---
  const manifestListing = async (req: IncomingMessage, res: ServerResponse, repository: string): Promise<void> => {
    if ((req.method ?? 'GET') !== 'GET') return send(res, 405, UNSUPPORTED);
    if (!deps.signIn.authorized(req, res, repository, ['metadata_read'])) return;
    if (!(await deps.repositoryExists(repository)))
      return send(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: `repository "${repository}" is not found` }] });
    const url = new URL(req.url ?? '/', `https://${deps.host()}`);
    const n = Math.max(1, Math.min(1000, Number(url.searchParams.get('n') ?? '100') || 100));
    const last = url.searchParams.get('last') ?? '';
    const all = storedManifests(repository).filter((m) => m.digest > last);
    const page = all.slice(0, n);
    const entries = page.map((m) => {
      const state = manifestState(repository, m.digest);
      const facts = storedFacts(m.digest);
      return {
        digest: m.digest,
        imageSize: facts?.size ?? 0,
        createdTime: state.createdTime,
        lastUpdateTime: state.lastUpdateTime,
        ...(facts?.architecture ? { architecture: facts.architecture, os: facts.os } : {}),
        mediaType: facts?.mediaType ?? '',
        ...(m.tags.length > 0 ? { tags: m.tags } : {}),
        changeableAttributes: { ...state.attributes },
      };
    });
    const more = all.length > n;
    const rawRepository = (req.url ?? '').split('?')[0]!.slice('/acr/v1/'.length, -'/_manifests'.length);
    const link: Record<string, string> = more
      ? {
          Link: `</acr/v1/${rawRepository}/_manifests?last=${page[page.length - 1]!.digest}&n=${n}&orderby=>; rel="next"`,
        }
      : {};
    return send(res, 200, { registry: deps.host(), imageName: repository, manifests: entries }, link);
  };

  // --- /acr/v1/<repository>/_tags/<tag> and /_manifests/<digest>: properties ---
  const properties = async (
    req: IncomingMessage,
    res: ServerResponse,
    rawPath: string,
    body: Buffer,
  ): Promise<void> => {
    const method = req.method ?? 'GET';
    if (rawPath.endsWith('/_manifests'))
      return manifestListing(req, res, decodeURIComponent(rawPath.slice(0, -'/_manifests'.length)));
    const kind = rawPath.includes('/_tags/') ? '_tags' : rawPath.includes('/_manifests/') ? '_manifests' : undefined;
    if (!kind) return send(res, 404, '404 page not found\n');
    const at = rawPath.lastIndexOf(`/${kind}/`);
    const repository = decodeURIComponent(rawPath.slice(0, at));
    const reference = decodeURIComponent(rawPath.slice(at + kind.length + 2));
    if (reference === '' || reference.includes('/') || (kind === '_manifests' && !DIGEST.test(reference)))
      return send(res, 404, '404 page not found\n');
    const action =
      method === 'GET'
        ? 'metadata_read'
        : method === 'PATCH'
          ? 'metadata_write'
          : method === 'DELETE'
            ? 'delete'
            : undefined;
    if (!action) return send(res, 405, UNSUPPORTED);
    if (!deps.signIn.authorized(req, res, repository, [action])) return;

    const head = await manifestHead(repository, reference);
    if (!head) {
      if (!(await deps.repositoryExists(repository)))
        return send(res, 404, {
          errors: [{ code: 'NAME_UNKNOWN', message: `repository "${repository}" is not found` }],
        });
      return send(
        res,
        404,
        kind === '_tags'
          ? { errors: [{ code: 'TAG_UNKNOWN', message: 'the specified tag does not exist' }] }
          : { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'the specified manifest does not exist' }] },
      );
    }
    if (kind === '_tags') {
      const state = tagState(repository, reference, head.digest);
      if (method === 'DELETE') {
        if (!state.attributes.writeEnabled || !state.attributes.deleteEnabled) return send(res, 405, DISALLOWED);
        const answer = await deps.upstream('DELETE', `/v2/${repository}/manifests/${reference}`, {});
        await answer.body?.cancel();
        tags.delete(key(repository, reference));
        return send(
          res,
          answer.ok ? 202 : answer.status,
          answer.ok ? '' : 'the registry behind the front cannot delete a tag alone\n',
          { 'X-Ms-Int-Docker-Content-Digest': head.digest },
        );
      }
      // A PATCH changes the attributes only: lastUpdateTime stays (js-sets_tag_properties.json).
      if (method === 'PATCH' && !applyPatch(state.attributes, body))
        return send(res, 400, { errors: [{ code: 'BAD_REQUEST', message: 'the body is not a JSON object' }] });
      return send(res, 200, {
        registry: deps.host(),
        imageName: repository,
        tag: {
          name: reference,
          digest: state.digest,
          createdTime: state.createdTime,
          lastUpdateTime: state.lastUpdateTime,
          signed: false,
          changeableAttributes: { ...state.attributes },
        },
      });
    }
    const state = manifestState(repository, reference);
    if (method === 'DELETE')
      return send(res, 405, {
        errors: [{ code: 'UNSUPPORTED', message: 'Delete a manifest at /v2/<name>/manifests/<digest>.' }],
      });
    const before = { ...state.attributes };
    // A PATCH changes the attributes only: lastUpdateTime stays (js-sets_manifest_properties.json).
    if (method === 'PATCH' && !applyPatch(state.attributes, body))
      return send(res, 400, { errors: [{ code: 'BAD_REQUEST', message: 'the body is not a JSON object' }] });
    if (method === 'PATCH' && reverted.has(key(repository, reference)))
      res.once('finish', () => Object.assign(state.attributes, before));
    const platform = storedFacts(reference);
    const tagNames = [...tags]
      .filter(([at, tag]) => at.startsWith(`${repository}\n`) && tag.digest === reference)
      .map(([at]) => at.slice(repository.length + 1));
    return send(res, 200, {
      registry: deps.host(),
      imageName: repository,
      manifest: {
        digest: reference,
        imageSize: head.size,
        createdTime: state.createdTime,
        lastUpdateTime: state.lastUpdateTime,
        ...(platform?.architecture ? { architecture: platform.architecture, os: platform.os } : {}),
        mediaType: head.mediaType,
        ...(tagNames.length > 0 ? { tags: tagNames } : {}),
        changeableAttributes: { ...state.attributes },
      },
    });
  };

  return {
    tagAttributes: (repository, tag) => {
      const state = tags.get(key(repository, tag));
      return state ? { ...state.attributes } : undefined;
    },
    manifestAttributes: (repository, digest) => {
      const state = manifests.get(key(repository, digest));
      return state ? { ...state.attributes } : undefined;
    },
    revertPatches: (repository, digest) => {
      reverted.add(key(repository, digest));
      return () => reverted.delete(key(repository, digest));
    },
    answer: properties,
    refuses: (req, res, repository, reference) => {
      const method = req.method ?? 'GET';
      if (method === 'PUT' && !DIGEST.test(reference)) {
        const tag = tags.get(key(repository, reference));
        if (tag && !tag.attributes.writeEnabled) {
          send(res, 405, DISALLOWED);
          return true;
        }
      }
      if (method === 'DELETE') {
        // go-TestClient_DeleteManifest_wrongDigest.json: a tag is deleted at /acr/v1/<repo>/_tags/<tag>, never here.
        if (!DIGEST.test(reference)) {
          send(res, 405, { errors: [{ code: 'UNSUPPORTED', message: 'A manifest can only be deleted by digest.' }] });
          return true;
        }
        if (manifestDeleteLocked(repository, reference)) {
          send(res, 405, DISALLOWED);
          return true;
        }
      }
      return false;
    },
  };
}
