import { DigestReleaseError } from '../errors';
import { Network } from '../http/network';
import { Digest, isDigest, sha256Of } from '../reference/digest';
import { apiHost } from '../reference/reference';
import { Authenticator } from './auth';
import { BodyLimit } from '../http/body-limit';
import { checkClaimedDigest } from './claimed';
import { Challenge } from './challenge';
import { ANONYMOUS, RegistryCredential } from './credential';
import { describeErrors, readErrorBody, unexpectedAnswer } from './error-answers';
import { HttpResponse } from '../http/request';
import { Manifest, parseManifest } from './manifest';
import { MANIFEST_ACCEPT, ManifestMediaType, bareMediaType } from './mediatypes';
import { RequestBody, Sender, StallBudget, Transport, TransportOptions, WholeAnswer } from '../http/transport';

// The OCI distribution API of one registry. Every manifest read is checked: the bytes must hash to
// the digest asked for, and to the Docker-Content-Digest the registry sent. Every answer read whole
// (manifests, index pages, tag lists, properties, small blobs) goes through readWhole, which asks
// again for an answer lost midway.

export interface RegistryClientOptions extends TransportOptions {
  readonly credential?: RegistryCredential;
  /** Called with every token obtained for the registry, so a task can mask it. */
  readonly onSecret?: (value: string) => void;
}

export interface ManifestResult {
  /** The sha256 of `bytes`, checked against what the registry claimed. */
  readonly digest: Digest;
  readonly mediaType: ManifestMediaType;
  readonly bytes: Uint8Array;
  readonly manifest: Manifest;
}

export interface ManifestHead {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
}

/** Registries cap manifests at 4 MiB; more is not a manifest and is not read into memory. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface RegistryRequest {
  readonly method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly scope: string;
  readonly headers?: Record<string, string>;
  /**
   * A body that can be sent again after a challenge, or a stream, sent once: a stream request
   * refused with 401 is not resent (the stream is spent); the caller starts over, signed by then.
   */
  readonly body?: RequestBody;
  /** The stalls of the operation the request is part of (http/transport.ts). */
  readonly stalls?: StallBudget;
  /** The request completes an upload of this many bytes (http/transport.ts). */
  readonly completesUpload?: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Redirects followed for one read; storage needs one or two, more is a misconfiguration. */
const MAX_REDIRECTS = 5;

export class RegistryClient {
  readonly registry: string;
  private readonly base: string;
  private readonly transport: Transport;
  private readonly auth: Authenticator;

  constructor(registry: string, options: RegistryClientOptions = {}) {
    this.registry = registry;
    this.base = `https://${apiHost(registry)}`;
    this.transport = new Transport(options);
    this.auth = new Authenticator(registry, options.credential ?? ANONYMOUS, this.transport, options.onSecret);
  }

  /** The registry as messages name it: "registry myacr.azurecr.io", or "source registry ..." in a promotion. */
  get name(): string {
    return `${this.transport.peer} ${this.registry}`;
  }

  /** What the registry is called in messages: "registry", "source registry", "target registry". */
  get peer(): string {
    return this.transport.peer;
  }

  get stallMs(): number {
    return this.transport.stallMs;
  }

  get network(): Network {
    return this.transport.network;
  }

  /** The last auth challenge the registry sent (how ACR is recognised); undefined before any. */
  get challenge(): Challenge | undefined {
    return this.auth.lastChallenge;
  }

  /** GET a manifest by tag or digest, verified. */
  async getManifest(repository: string, selector: string): Promise<ManifestResult> {
    const where = manifestName(this.registry, repository, selector);
    const { response, body } = await this.readWhole(
      (stalls) => this.requestFollowing({ method: 'GET', path: manifestPath(repository, selector), scope: pullScope(repository), headers: { Accept: MANIFEST_ACCEPT }, stalls }, `the manifest ${where}`),
      { bytes: MAX_MANIFEST_BYTES, what: `The ${this.name}'s answer for the manifest ${where}`, kind: 'a manifest', code: 'REGISTRY_ERROR' },
    );
    if (!response.ok || body === undefined) throw await this.manifestError(response, repository, where);
    const bytes = new Uint8Array(body);
    const digest = sha256Of(bytes);
    checkClaimedDigest(response, {
      expected: digest,
      mismatch: (claimed) =>
        `The ${this.name} sent manifest bytes for ${where} that hash to ${digest}, but its Docker-Content-Digest header says ${claimed}. ` +
        'Something between the agent and the registry (a proxy or cache) altered the manifest, or the registry is faulty; do not trust this tag until it is explained.',
    });
    if (isDigest(selector) && selector !== digest) {
      throw new DigestReleaseError(
        'DIGEST_MISMATCH',
        `The ${this.name} answered a request for ${where} with bytes that hash to ${digest}. A registry must serve exactly the bytes of the digest asked for; ` +
          'something between the agent and the registry (a proxy or cache) altered the manifest, or the registry is faulty.',
      );
    }
    const manifest = parseManifest(bytes, bareMediaType(response.headers.get('content-type')), where);
    return { digest, mediaType: manifest.mediaType, bytes, manifest };
  }

  /** HEAD a manifest by tag or digest; undefined when the registry does not have it. */
  async headManifest(repository: string, selector: string): Promise<ManifestHead | undefined> {
    const where = manifestName(this.registry, repository, selector);
    const response = await this.requestFollowing(
      { method: 'HEAD', path: manifestPath(repository, selector), scope: pullScope(repository), headers: { Accept: MANIFEST_ACCEPT } },
      `the manifest ${where}`,
    );
    if (response.status === 404) return undefined;
    if (!response.ok) throw await this.manifestError(response, repository, where);
    const digest = checkClaimedDigest(response, {
      expected: isDigest(selector) ? selector : undefined,
      missing: (claimed) =>
        `The ${this.name} answered HEAD for ${where} without a valid Docker-Content-Digest header (${claimed ?? 'none'}), which every OCI registry sends. Check that nothing between the agent and the registry (a proxy) drops its headers.`,
      mismatch: (claimed) => `The ${this.name} answered HEAD for ${where} with the digest ${claimed}; a registry must name the digest asked for. Something between the agent and the registry altered the answer, or the registry is faulty.`,
    });
    return { digest, mediaType: bareMediaType(response.headers.get('content-type')), size: Number(response.headers.get('content-length') ?? '0') };
  }

  /**
   * Sends a request to `/v2/...` (or any path on the registry) signed for `scope`, answering one
   * auth challenge. Operations in other files (blobs, uploads, referrers) build on this.
   */
  async request(req: RegistryRequest): Promise<HttpResponse> {
    const url = this.urlOf(req.path);
    const extra = { ...bodyOf(req), ...(req.stalls ? { stalls: req.stalls } : {}), ...(req.completesUpload !== undefined ? { completesUpload: req.completesUpload } : {}) };
    // Upload locations and redirects may point elsewhere; credentials go only to the registry itself.
    if (new URL(url).origin !== new URL(this.base).origin) return this.transport.send({ method: req.method, url, headers: { ...req.headers }, ...extra });
    const first = await this.auth.headerFor(req.scope);
    let response = await this.transport.send({ method: req.method, url, headers: withAuth(req.headers, first), ...extra });
    if (response.status !== 401) return response;
    const retryHeader = await this.auth.answer(response, req.scope, first);
    if (isStream(req.body)) {
      throw new DigestReleaseError('REGISTRY_ERROR', `The ${this.name} asked to sign in again in the middle of an upload (${req.scope}); the upload is started over.`, {
        status: 401,
      });
    }
    response = await this.transport.send({ method: req.method, url, headers: withAuth(req.headers, retryHeader), ...extra });
    if (response.status === 401) {
      throw this.auth.refusedAfterSignIn(req.scope, 401, describeErrors(await readErrorBody(response)));
    }
    return response;
  }

  /**
   * A GET or HEAD that follows the registry's redirects (blob storage: ACR and S3-backed
   * registries answer 307 with a pre-signed URL; a CDN in front of a bucket redirects again), a
   * chain of a few at most, each Location resolved against the URL that sent it. No hop gets the
   * registry's credentials, wherever it points: a redirect URL carries its own grant, and storage
   * would refuse or, worse, keep the registry's token. `what` names the object in errors.
   */
  async requestFollowing(req: RegistryRequest & { readonly method: 'GET' | 'HEAD' }, what: string): Promise<HttpResponse> {
    let response = await this.request(req);
    let url = this.urlOf(req.path);
    const visited = new Set([url]);
    for (let hops = 0; REDIRECTS.has(response.status); hops++) {
      const location = response.headers.get('location');
      if (!location) return response;
      await response.body?.cancel();
      const next = new URL(location, url).toString();
      if (visited.has(next)) {
        throw new DigestReleaseError(
          'REGISTRY_ERROR',
          `The ${this.name} answered ${req.method} for ${what} with redirects that loop (back to ${new URL(next).origin}${new URL(next).pathname} after ${hops + 1} redirect${hops === 0 ? '' : 's'}). ` +
            "Check the registry's storage and proxy configuration (its redirect settings), and that nothing between the agent and the registry redirects on its own.",
          { status: response.status },
        );
      }
      if (hops >= MAX_REDIRECTS) {
        throw new DigestReleaseError(
          'REGISTRY_ERROR',
          `The ${this.name} answered ${req.method} for ${what} with more than ${MAX_REDIRECTS} redirects in a chain; they were not followed further. Check the registry's storage and proxy configuration.`,
          { status: response.status },
        );
      }
      visited.add(next);
      url = next;
      response = await this.transport.send({ method: req.method, url: next, headers: { ...req.headers }, ...(req.stalls ? { stalls: req.stalls } : {}) });
    }
    return response;
  }

  /** An answer read whole, asked for again when lost midway (Transport.readWhole). */
  readWhole(send: Sender, limit: BodyLimit, stalls?: StallBudget): Promise<WholeAnswer> {
    return this.transport.readWhole(send, limit, stalls);
  }

  /** An absolute URL for a path or a Location header, relative or absolute. */
  urlOf(pathOrLocation: string): string {
    return new URL(pathOrLocation, `${this.base}/`).toString();
  }

  private async manifestError(response: HttpResponse, repository: string, where: string): Promise<DigestReleaseError> {
    const status = response.status;
    const entries = response.body ? await readErrorBody(response) : [];
    const detail = describeErrors(entries);
    const codes = new Set(entries.map((e) => e.code));
    const suffix = detail ? ` (${detail})` : '';
    // Some registries (distribution among them) answer MANIFEST_UNKNOWN for a repository that does
    // not exist at all; one look at its tag list tells the two apart, on the error path only.
    if (status === 404 && (codes.has('NAME_UNKNOWN') || (await this.repositoryMissing(repository)))) {
      return new DigestReleaseError(
        'NAME_UNKNOWN',
        `The repository ${this.registry}/${repository} does not exist on the ${this.peer}${suffix}. Check the repository name, and that the push went to this registry.`,
        { status },
      );
    }
    if (status === 404) {
      return new DigestReleaseError(
        'MANIFEST_UNKNOWN',
        `The ${this.peer} has no manifest for ${where}${suffix}. Check the tag, and that this task runs after the push.`,
        { status },
      );
    }
    if (status === 403) {
      return new DigestReleaseError('DENIED', `The ${this.name} denied access to ${where}${suffix}. Check that the credentials may pull this repository.`, {
        status,
      });
    }
    return unexpectedAnswer(this.name, response, `for ${where}`, entries);
  }

  private async repositoryMissing(repository: string): Promise<boolean> {
    try {
      const response = await this.request({ method: 'GET', path: `/v2/${repository}/tags/list?n=1`, scope: pullScope(repository) });
      const entries = response.status === 404 ? await readErrorBody(response) : [];
      if (response.status !== 404) await response.body?.cancel();
      return entries.some((entry) => entry.code === 'NAME_UNKNOWN');
    } catch {
      return false;
    }
  }
}

function isStream(body: RequestBody | undefined): boolean {
  return body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array);
}

function bodyOf(req: RegistryRequest): { body?: RequestBody } {
  return req.body === undefined ? {} : { body: req.body };
}

function withAuth(headers: Record<string, string> | undefined, authorization: string | undefined): Record<string, string> {
  return authorization === undefined ? { ...headers } : { ...headers, Authorization: authorization };
}

function manifestName(registry: string, repository: string, selector: string): string {
  return `${registry}/${repository}${isDigest(selector) ? '@' : ':'}${selector}`;
}

function manifestPath(repository: string, selector: string): string {
  return `/v2/${repository}/manifests/${selector}`;
}

export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

/** Pull and push on one repository: what writing blobs, manifests and tags needs. */
export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}
