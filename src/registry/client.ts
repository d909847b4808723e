import { DigestReleaseError } from '../errors';
import type { BodyLimit } from '../http/body-limit';
import type { Network } from '../http/network';
import type { HttpResponse } from '../http/response';
import type { RequestBody, Sender, StallBudget, TransportOptions, WholeAnswer } from '../http/transport';
import { Transport } from '../http/transport';
import { apiHost } from '../reference/reference';
import { describeErrors, readErrorBody } from './error-answers';
import type { ManifestHead, ManifestResult } from './manifests';
import { getManifest, headManifest } from './manifests';
import type { Challenge, RegistryCredential } from './sign-in';
import { ANONYMOUS, Authenticator } from './sign-in';

// The OCI distribution API of one registry: requests signed for their scope (sign-in.ts), the
// registry's redirects followed without credentials, and every answer read whole (manifests, index
// pages, tag lists, properties, small blobs) asked for again when lost midway. The operations on
// each resource are in their own files: manifests.ts, blobs.ts, blob-upload.ts, tag-list.ts, referrers.ts.

export interface RegistryClientOptions extends TransportOptions {
  readonly credential?: RegistryCredential;
  /** Called with every token obtained for the registry, so a task can mask it. */
  readonly onSecret?: (value: string) => void;
}

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

  /**
   * Sends a request to `/v2/...` (or any path on the registry) signed for `scope`, answering one
   * auth challenge. Operations in other files (blobs, uploads, referrers) build on this.
   */
  async request(req: RegistryRequest): Promise<HttpResponse> {
    const url = this.urlOf(req.path);
    const extra = {
      ...bodyOf(req),
      ...(req.stalls ? { stalls: req.stalls } : {}),
      ...(req.completesUpload !== undefined ? { completesUpload: req.completesUpload } : {}),
    };
    // Upload locations and redirects may point elsewhere; credentials go only to the registry itself.
    if (new URL(url).origin !== new URL(this.base).origin)
      return this.transport.send({ method: req.method, url, headers: { ...req.headers }, ...extra });
    const first = await this.auth.headerFor(req.scope);
    let response = await this.transport.send({
      method: req.method,
      url,
      headers: withAuth(req.headers, first),
      ...extra,
    });
    if (response.status !== 401) return response;
    const retryHeader = await this.auth.answer(response, req.scope, first);
    if (isStream(req.body)) {
      throw new DigestReleaseError(
        'REGISTRY_ERROR',
        `The ${this.name} asked to sign in again in the middle of an upload (${req.scope}); the upload is started over.`,
        {
          status: 401,
        },
      );
    }
    response = await this.transport.send({
      method: req.method,
      url,
      headers: withAuth(req.headers, retryHeader),
      ...extra,
    });
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
  async requestFollowing(
    req: RegistryRequest & { readonly method: 'GET' | 'HEAD' },
    what: string,
  ): Promise<HttpResponse> {
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
      response = await this.transport.send({
        method: req.method,
        url: next,
        headers: { ...req.headers },
        ...(req.stalls ? { stalls: req.stalls } : {}),
      });
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

  /** GET a manifest by tag or digest, verified (manifests.ts). */
  getManifest(repository: string, selector: string): Promise<ManifestResult> {
    return getManifest(this, repository, selector);
  }

  /** HEAD a manifest by tag or digest; undefined when the registry does not have it (manifests.ts). */
  headManifest(repository: string, selector: string): Promise<ManifestHead | undefined> {
    return headManifest(this, repository, selector);
  }
}

function isStream(body: RequestBody | undefined): boolean {
  return body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array);
}

function bodyOf(req: RegistryRequest): { body?: RequestBody } {
  return req.body === undefined ? {} : { body: req.body };
}

function withAuth(
  headers: Record<string, string> | undefined,
  authorization: string | undefined,
): Record<string, string> {
  return authorization === undefined ? { ...headers } : { ...headers, Authorization: authorization };
}
