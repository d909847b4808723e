import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:https';
import { createServer } from 'node:https';
import { promote } from '../src/promote/promote';
import type { Digest } from '../src/reference/digest';
import { isDigest, sha256Of } from '../src/reference/digest';
import { RegistryClient } from '../src/registry/client';
import type { RegistryCredential } from '../src/registry/sign-in';
import { putManifest } from '../src/registry/manifests';
import type { TestCertificates } from './tls';

// A stand-in for the slice of Azure Resource Manager that ACR import uses: listing the container
// registries of a subscription (paged with nextLink) and Registries - Import Image, a long-running
// operation answered 202 with Azure-AsyncOperation and Location to poll. Errors have ARM's shape
// {"error":{"code","message"}}. Bearer tokens must be Entra ID tokens one of the ACR fronts issued,
// for this Resource Manager's audience. The import really happens: the registry behind the target
// front receives the image from the source through the project's own copy code (test tooling), so
// what the task reads back afterwards is real. Like ACR, the import carries no referrers.

export interface ArmRegistryEntry {
  readonly name: string;
  readonly resourceGroup: string;
  readonly subscriptionId: string;
  /** The login server: the ACR front's host. */
  readonly loginServer: string;
  /** The registry behind the front, where the import writes (ACR imports inside Azure, not through its own front). */
  readonly upstreamHost: string;
}

export type ImportSabotage = 'other-bytes' | 'fail';

export interface ArmCounts {
  list: number;
  importImage: number;
  polls: number;
}

export interface RunningArmFront {
  /** https://127.0.0.1:<port>: the Resource Manager URL of the test connections, and their tokens' audience. */
  readonly url: string;
  readonly counts: ArmCounts;
  /** The request bodies of importImage calls, newest last. */
  readonly imports: unknown[];
  addRegistry(entry: ArmRegistryEntry): string;
  /** Where Entra ID tokens are checked: the ACR fronts that issue them. */
  addIssuer(claims: (token: string) => { readonly aud: string; readonly tid: string } | undefined): void;
  /** The next import reports success but leaves other bytes ('other-bytes'), or fails ('fail'). */
  sabotageNextImport(kind: ImportSabotage): void;
  /** Runs `hook` when the next import has copied the image, before the operation reports success (a push racing the import). */
  afterNextImport(hook: () => Promise<void>): void;
  close(): Promise<void>;
}

const API_VERSIONS = new Set([
  '2019-05-01',
  '2021-09-01',
  '2023-01-01-preview',
  '2023-07-01',
  '2023-11-01-preview',
  '2025-04-01',
]);

interface Operation {
  status: 'InProgress' | 'Succeeded' | 'Failed';
  error?: { code: string; message: string };
}

class ArmOperationError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...value } : undefined;
}

function strings(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v): v is string => typeof v === 'string') ? value : undefined;
}

/** `name`: the host name clients address the front by (one only the test proxy resolves); 127.0.0.1 unless given. */
export async function startArmFront(
  certs: TestCertificates,
  options: { readonly pageSize?: number; readonly name?: string } = {},
): Promise<RunningArmFront> {
  const registries: (ArmRegistryEntry & { id: string })[] = [];
  const issuers: ((token: string) => { aud: string; tid: string } | undefined)[] = [];
  const operations = new Map<string, Operation>();
  const counts: ArmCounts = { list: 0, importImage: 0, polls: 0 };
  const imports: unknown[] = [];
  let sabotage: ImportSabotage | undefined;
  let afterImport: (() => Promise<void>) | undefined;
  let origin = '';
  const pageSize = options.pageSize ?? 1;

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(text)),
      'x-ms-request-id': randomUUID(),
      ...headers,
    });
    res.end(text);
  };
  const armError = (
    res: ServerResponse,
    status: number,
    code: string,
    message: string,
    headers: Record<string, string> = {},
  ): void => send(res, status, { error: { code, message } }, headers);

  const authorized = (req: IncomingMessage, res: ServerResponse): boolean => {
    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (!match) {
      armError(res, 401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.", {
        'WWW-Authenticate':
          'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"',
      });
      return false;
    }
    const claims = issuers.map((issuer) => issuer(match[1]!)).find((c) => c !== undefined);
    if (!claims) {
      armError(res, 401, 'InvalidAuthenticationToken', 'The access token is invalid.');
      return false;
    }
    if (claims.aud.replace(/\/+$/, '') !== origin) {
      armError(
        res,
        401,
        'InvalidAuthenticationTokenAudience',
        `The access token has been obtained for wrong audience or resource '${claims.aud}'. It should exactly match with one of the allowed audiences '${origin}/'.`,
      );
      return false;
    }
    return true;
  };

  const list = (res: ServerResponse, url: URL, subscriptionId: string): void => {
    counts.list++;
    const inSubscription = registries.filter((r) => r.subscriptionId === subscriptionId);
    if (!registries.some((r) => r.subscriptionId === subscriptionId)) {
      armError(res, 404, 'SubscriptionNotFound', `The subscription '${subscriptionId}' could not be found.`);
      return;
    }
    const skip = Number(url.searchParams.get('$skipToken') ?? '0');
    const page = inSubscription.slice(skip, skip + pageSize);
    const next =
      skip + pageSize < inSubscription.length
        ? `${origin}${url.pathname}?api-version=${url.searchParams.get('api-version')}&$skipToken=${skip + pageSize}`
        : undefined;
    send(res, 200, {
      value: page.map((r) => ({
        id: r.id,
        name: r.name,
        type: 'Microsoft.ContainerRegistry/registries',
        location: 'westeurope',
        sku: { name: 'Premium', tier: 'Premium' },
        properties: { loginServer: r.loginServer, provisioningState: 'Succeeded', adminUserEnabled: false },
      })),
      ...(next ? { nextLink: next } : {}),
    });
  };

  /** The copy ACR does inside Azure, from the source named by the request to the target's registry. */
  const performImport = async (
    target: ArmRegistryEntry,
    source: { client: RegistryClient; repository: string; digest: Digest },
    repositories: { repository: string; tags: string[] }[],
    force: boolean,
  ): Promise<void> => {
    const targetClient = new RegistryClient(target.upstreamHost, {
      credential: { kind: 'anonymous', source: 'ARM front' },
    });
    const root = await source.client.getManifest(source.repository, source.digest);
    for (const { repository, tags } of repositories) {
      if (sabotage === 'other-bytes') {
        // Other bytes on purpose: the platforms of an index, under an index that is not the source's.
        if (root.manifest.kind !== 'index') throw new Error('the other-bytes sabotage needs an index');
        for (const child of root.manifest.manifests) {
          await promote(
            {
              source: source.client,
              sourceRepository: source.repository,
              digest: child.digest,
              target: targetClient,
              targetRepository: repository,
              tags: [],
              semverTags: false,
              overwriteTags: false,
              includeReferrers: false,
              concurrency: 2,
            },
            { info: () => undefined, warning: () => undefined },
          );
        }
        const other = {
          ...record(JSON.parse(Buffer.from(root.bytes).toString('utf8'))),
          annotations: { 'org.example.rebuilt': 'by the import' },
        };
        const bytes = new Uint8Array(Buffer.from(JSON.stringify(other)));
        await putManifest(targetClient, repository, sha256Of(bytes), bytes, root.mediaType);
        for (const tag of tags) await putManifest(targetClient, repository, tag, bytes, root.mediaType);
        continue;
      }
      await promote(
        {
          source: source.client,
          sourceRepository: source.repository,
          digest: source.digest,
          target: targetClient,
          targetRepository: repository,
          tags,
          semverTags: false,
          overwriteTags: force,
          includeReferrers: false,
          concurrency: 4,
        },
        { info: () => undefined, warning: () => undefined },
      );
    }
  };

  const importImage = async (
    res: ServerResponse,
    target: ArmRegistryEntry & { id: string },
    body: Buffer,
  ): Promise<void> => {
    counts.importImage++;
    let doc: unknown;
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      return armError(
        res,
        400,
        'InvalidRequestContent',
        'The request content was invalid and could not be deserialized.',
      );
    }
    imports.push(doc);
    const request = record(doc);
    const source = record(request?.source);
    const sourceImage = source?.sourceImage;
    const mode = request?.mode ?? 'NoForce';
    const targetTags = strings(request?.targetTags ?? []);
    const untagged = strings(request?.untaggedTargetRepositories ?? []);
    if (
      typeof sourceImage !== 'string' ||
      (typeof source?.resourceId !== 'string') === (typeof source?.registryUri !== 'string')
    ) {
      return armError(
        res,
        400,
        'InvalidParameter',
        'The source must name sourceImage and exactly one of resourceId and registryUri.',
      );
    }
    if (mode !== 'NoForce' && mode !== 'Force')
      return armError(res, 400, 'InvalidParameter', `The mode '${String(mode)}' is not one of NoForce, Force.`);
    if (!targetTags || !untagged || targetTags.length + untagged.length === 0) {
      return armError(
        res,
        400,
        'InvalidParameter',
        'At least one of targetTags and untaggedTargetRepositories must be given.',
      );
    }
    const at = sourceImage.indexOf('@');
    const digest = at > 0 ? sourceImage.slice(at + 1) : '';
    if (!isDigest(digest))
      return armError(res, 400, 'InvalidParameter', 'This front imports by digest only (repository@sha256:...).');
    const repository = sourceImage.slice(0, at);

    let credential: RegistryCredential = { kind: 'anonymous', source: 'import' };
    let host: string;
    if (typeof source?.resourceId === 'string') {
      const from = registries.find((r) => r.id.toLowerCase() === String(source.resourceId).toLowerCase());
      if (!from)
        return armError(res, 404, 'ResourceNotFound', `The Resource '${String(source.resourceId)}' was not found.`);
      host = from.upstreamHost;
    } else {
      host = String(source?.registryUri);
      const creds = record(source?.credentials);
      if (typeof creds?.username === 'string' && typeof creds.password === 'string')
        credential = { kind: 'basic', username: creds.username, password: creds.password, source: 'import' };
    }
    const repositories = new Map<string, string[]>();
    for (const repo of untagged) repositories.set(repo, repositories.get(repo) ?? []);
    for (const tag of targetTags) {
      const colon = tag.lastIndexOf(':');
      const [repo, name] = colon > 0 ? [tag.slice(0, colon), tag.slice(colon + 1)] : [tag, 'latest'];
      repositories.set(repo, [...(repositories.get(repo) ?? []), name]);
    }

    const id = randomUUID();
    const operation: Operation = { status: 'InProgress' };
    operations.set(id, operation);
    const kind = sabotage;
    const after = afterImport;
    afterImport = undefined;
    void (async () => {
      try {
        if (kind === 'fail')
          throw new ArmOperationError('ImportSourceUnauthorized', 'The source image could not be read: unauthorized.');
        await performImport(
          target,
          { client: new RegistryClient(host, { credential }), repository, digest },
          [...repositories].map(([r, tags]) => ({ repository: r, tags })),
          mode === 'Force',
        );
        await after?.();
        operation.status = 'Succeeded';
      } catch (err) {
        operation.status = 'Failed';
        operation.error = {
          code: err instanceof ArmOperationError ? err.code : 'ImportFailed',
          message: err instanceof Error ? err.message : String(err),
        };
      } finally {
        sabotage = undefined;
      }
    })();
    const base = `${origin}/subscriptions/${target.subscriptionId}/providers/Microsoft.ContainerRegistry/locations/westeurope/operationResults/${id}?api-version=2023-07-01`;
    send(res, 202, undefined, {
      'Azure-AsyncOperation': base.replace('/operationResults/', '/operationStatuses/'),
      Location: base,
      'Retry-After': '1',
    });
  };

  const poll = (res: ServerResponse, id: string, kind: 'status' | 'result'): void => {
    counts.polls++;
    const operation = operations.get(id);
    if (!operation) {
      armError(res, 404, 'OperationNotFound', `The operation '${id}' was not found.`);
      return;
    }
    if (kind === 'result') {
      if (operation.status === 'InProgress') {
        send(res, 202, undefined, { 'Retry-After': '1' });
        return;
      }
      if (operation.status === 'Failed') {
        armError(res, 400, operation.error?.code ?? 'ImportFailed', operation.error?.message ?? '');
        return;
      }
      send(res, 200, undefined);
      return;
    }
    send(
      res,
      200,
      { id, status: operation.status, ...(operation.error ? { error: operation.error } : {}) },
      operation.status === 'InProgress' ? { 'Retry-After': '1' } : {},
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> => {
    const url = new URL(req.url ?? '/', origin);
    const version = url.searchParams.get('api-version');
    if (!version || !API_VERSIONS.has(version)) {
      return armError(
        res,
        400,
        version ? 'InvalidApiVersionParameter' : 'MissingApiVersionParameter',
        `The api-version '${version ?? ''}' is invalid.`,
      );
    }
    if (!authorized(req, res)) return;
    const path = url.pathname;
    const get = req.method === 'GET';
    const listed = get
      ? /^\/subscriptions\/([^/]+)\/providers\/Microsoft\.ContainerRegistry\/registries$/i.exec(path)
      : null;
    if (listed) return list(res, url, decodeURIComponent(listed[1]!));
    const operation = get ? /\/operation(Statuses|Results)\/([^/]+)$/.exec(path) : null;
    if (operation) return poll(res, operation[2]!, operation[1] === 'Statuses' ? 'status' : 'result');
    const importing =
      req.method === 'POST'
        ? /^(\/subscriptions\/.+\/providers\/Microsoft\.ContainerRegistry\/registries\/[^/]+)\/importImage$/i.exec(path)
        : null;
    if (importing) {
      const id = importing[1]!;
      const target = registries.find((r) => r.id.toLowerCase() === id.toLowerCase());
      if (!target) return armError(res, 404, 'ResourceNotFound', `The Resource '${id}' was not found.`);
      return importImage(res, target, body);
    }
    return armError(
      res,
      404,
      'InvalidResourceType',
      `The resource type could not be found for ${req.method ?? ''} ${path}.`,
    );
  };

  const server: Server = createServer(
    { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        handle(req, res, Buffer.concat(chunks)).catch((err: unknown) => {
          if (!res.headersSent) armError(res, 500, 'InternalServerError', String(err));
          else res.end();
        });
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the ARM front is not listening on a TCP port');
  origin = `https://${options.name ?? '127.0.0.1'}:${address.port}`;

  return {
    url: origin,
    counts,
    imports,
    addRegistry: (entry) => {
      const id = `/subscriptions/${entry.subscriptionId}/resourceGroups/${entry.resourceGroup}/providers/Microsoft.ContainerRegistry/registries/${entry.name}`;
      registries.push({ ...entry, id });
      return id;
    },
    addIssuer: (claims) => issuers.push(claims),
    sabotageNextImport: (kind) => {
      sabotage = kind;
    },
    afterNextImport: (hook) => {
      afterImport = hook;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
