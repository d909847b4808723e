import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:https';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { AgentJobOptions } from './agent';
import { serverVariablesFromEnv } from './agent';
import { ROOT } from './paths';
import type { TestCertificates } from './tls';

// A local HTTPS server that answers the few Azure DevOps REST routes DigestEvidence@1 calls, the
// way the service does (see test/fixtures/ado/README.md): lists wrapped as {count, value}, steps
// only with $expand=steps, the error envelope, a sign-in page for a token it does not accept.

const FIXTURES = join(ROOT, 'test', 'fixtures', 'ado');

export const ORGANIZATION = 'fabrikam';
export const PROJECT_NAME = 'Contoso Shop';
export const PROJECT_ID = '3f0c7a52-5b6e-4a0e-9d55-2b1f1c9b7e10';
export const BUILD_ID = 4711;

type Json = Record<string, unknown>;

export type AdoMode =
  /** Answer from the fixtures. */
  | 'normal'
  /** Every request: 203 with an HTML sign-in page (how an expired token is answered). */
  | 'signInPage'
  /** Every request: 302 to the sign-in service. */
  | 'redirect'
  /** Every request: the TF400813 "not authorized" body, with 403. */
  | 'forbidden'
  /** The first request: 429 with Retry-After; then normal. */
  | 'throttleOnce';

export interface AdoRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly authorization: string | undefined;
}

export interface AdoServer {
  /** `https://127.0.0.1:<port>/fabrikam/`: what System.CollectionUri holds. */
  readonly collectionUri: string;
  readonly token: string;
  mode: AdoMode;
  /** The timeline response; tests edit it for scenarios (no approval check, a re-run). */
  timeline: Json;
  /** The approvals by id, as the service holds them (with steps). */
  approvals: Json[];
  readonly requests: AdoRequest[];
  /** The job a task runs in against this server: agent_env.json's run (a deployment job), its connection pointing here. */
  agentJob(): AgentJobOptions;
  close(): Promise<void>;
}

const ACCEPTED_VERSIONS = new Set(['7.1', '7.1-preview.1', '7.0', '6.0-preview.1', '6.1-preview.1', '7.2-preview.2']);

function fixture(name: string): Json {
  const doc: unknown = JSON.parse(readFileSync(join(FIXTURES, name), 'utf8'));
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error(`${name} is not an object`);
  return doc as Json;
}

function response(name: string): Json {
  const body = fixture(name).response;
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new Error(`${name} has no response object`);
  return body as Json;
}

function errorBody(label: string): { status: number; body: unknown } {
  const errors = fixture('errors.json').errors;
  if (!Array.isArray(errors)) throw new Error('errors.json has no errors list');
  for (const entry of errors) {
    if (typeof entry === 'object' && entry !== null && Reflect.get(entry, 'label') === label) {
      return { status: Number(Reflect.get(entry, 'status')), body: Reflect.get(entry, 'body') };
    }
  }
  throw new Error(`errors.json has no entry ${label}`);
}

function envelope(message: string, typeKey: string): Json {
  return {
    $id: '1',
    innerException: null,
    message,
    typeName: `${typeKey}, Microsoft.VisualStudio.Services.WebApi`,
    typeKey,
    errorCode: 0,
    eventId: 3000,
  };
}

/** `name`: the host name the collection URI gives (one only the test proxy resolves); 127.0.0.1 unless given. */
export async function startAdoServer(
  certs: TestCertificates,
  token = 'test-token-abc',
  options: { readonly name?: string } = {},
): Promise<AdoServer> {
  const requests: AdoRequest[] = [];
  const approvalsFixture = response('approvals_4711.json').value;
  if (!Array.isArray(approvalsFixture)) throw new Error('approvals_4711.json has no value list');
  const state = {
    mode: 'normal' as AdoMode,
    timeline: response('timeline_4711.json'),
    approvals: approvalsFixture.filter((a): a is Json => typeof a === 'object' && a !== null),
    throttled: false,
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8; api-version=7.1',
      ActivityId: '00000000-0000-4000-8000-000000000001',
      ...headers,
    });
    res.end(text);
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const path = decodeURIComponent(url.pathname);
    const authorization = req.headers.authorization;
    requests.push({ method: req.method ?? 'GET', path, query: url.searchParams, authorization });

    if (state.mode === 'signInPage') {
      res.writeHead(203, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(
        '<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head><body>...</body></html>',
      );
      return;
    }
    if (state.mode === 'redirect') {
      res.writeHead(302, {
        Location: 'https://spsprodweu5.vssps.visualstudio.com/_signin?realm=dev.azure.com&reply_to=...',
      });
      res.end();
      return;
    }
    if (state.mode === 'throttleOnce' && !state.throttled) {
      state.throttled = true;
      send(res, 429, envelope('Request was blocked due to exceeding usage of resource.', 'RequestBlockedException'), {
        'Retry-After': '1',
        'X-RateLimit-Resource': 'ATCPU',
      });
      return;
    }
    if (authorization === undefined) {
      const { status, body } = errorBody('anonymous');
      send(res, status, body);
      return;
    }
    if (
      authorization !== `Bearer ${token}` &&
      authorization !== `Basic ${Buffer.from(`:${token}`).toString('base64')}`
    ) {
      // A token the service does not accept gets the sign-in page, not a 401.
      res.writeHead(203, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(
        '<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head><body>...</body></html>',
      );
      return;
    }
    if (state.mode === 'forbidden') {
      const { body } = errorBody('not-authorized (wrong project / missing permission)');
      send(res, 403, body);
      return;
    }

    const prefix = `/${ORGANIZATION}/`.toLowerCase();
    if (!path.toLowerCase().startsWith(prefix)) {
      send(res, 404, envelope(`The resource ${path} does not exist.`, 'ResourceNotFoundException'));
      return;
    }
    const [project, ...rest] = path.slice(prefix.length).split('/');
    if (project !== PROJECT_NAME && project?.toLowerCase() !== PROJECT_ID) {
      const { status, body } = errorBody('project-not-found');
      send(res, status, body);
      return;
    }
    const version = url.searchParams.get('api-version');
    if (version === null || !ACCEPTED_VERSIONS.has(version)) {
      // What the service says for a missing or unknown version is not in the notes; an envelope with 400.
      send(
        res,
        400,
        envelope(
          `The requested REST API version "${version ?? ''}" is not supported.`,
          'VssVersionOutOfRangeException',
        ),
      );
      return;
    }
    const route = rest.join('/').toLowerCase();
    const timeline = /^_apis\/build\/builds\/(\d+)\/timeline(?:\/[0-9a-f-]+)?$/.exec(route);
    if (timeline) {
      if (Number(timeline[1]) !== BUILD_ID) {
        send(res, 404, envelope(`The requested build ${timeline[1]} could not be found.`, 'BuildNotFoundException'));
        return;
      }
      send(res, 200, state.timeline);
      return;
    }
    if (route === '_apis/pipelines/approvals') {
      const ids = (url.searchParams.get('approvalIds') ?? '')
        .split(',')
        .map((id) => id.trim().toLowerCase())
        .filter((id) => id !== '');
      const expand = (url.searchParams.get('$expand') ?? '').toLowerCase();
      const value = state.approvals
        .filter((approval) => ids.length === 0 || ids.includes(String(approval.id).toLowerCase()))
        .map((approval) => (expand === 'steps' ? approval : { ...approval, steps: [] }));
      send(res, 200, { count: value.length, value });
      return;
    }
    send(res, 404, envelope(`The resource ${path} does not exist.`, 'ResourceNotFoundException'));
  };

  const server: Server = createServer(
    { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) },
    handle,
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const collectionUri = `https://${options.name ?? '127.0.0.1'}:${port}/${ORGANIZATION}/`;

  return {
    collectionUri,
    token,
    get mode() {
      return state.mode;
    },
    set mode(mode: AdoMode) {
      state.mode = mode;
      state.throttled = false;
    },
    get timeline() {
      return state.timeline;
    },
    set timeline(value: Json) {
      state.timeline = value;
    },
    get approvals() {
      return state.approvals;
    },
    set approvals(value: Json[]) {
      state.approvals = value;
    },
    requests,
    agentJob() {
      // The server's part of the fixture; what the agent sets itself (folders, agent facts) and
      // the job connection come from the agent model.
      const env: Record<string, string> = {};
      for (const [name, value] of Object.entries(fixture('agent_env.json'))) {
        if (name.startsWith('_') || typeof value !== 'string') continue;
        if (/^(ENDPOINT_|AGENT_|PIPELINE_|VSTS_|TF_BUILD$)/.test(name)) continue;
        env[name] = value;
      }
      const { 'Environment.Name': environment, ...variables } = serverVariablesFromEnv(env);
      variables['System.CollectionUri'] = collectionUri;
      variables['System.TeamFoundationCollectionUri'] = collectionUri;
      return {
        collection: { url: collectionUri, accessToken: token },
        variables,
        ...(environment !== undefined ? { environment } : {}),
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
