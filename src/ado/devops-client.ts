import { DigestReleaseError } from '../errors';
import { isRecord } from '../json';
import { readJsonUpTo } from '../http/body-limit';
import type { Network } from '../http/network';
import type { HttpResponse } from '../http/response';
import { Transport } from '../http/transport';

// A small client for the Azure DevOps REST API of one project: GET with the job's token, JSON
// only. Azure DevOps answers a token it does not accept with a sign-in page (203 HTML, or a 302
// to it) rather than a 401, so anything that is not JSON is treated as a refused token.

export interface AzureDevOpsClientOptions {
  /** System.CollectionUri: `https://dev.azure.com/org/`, or an Azure DevOps Server collection. */
  readonly collectionUri: string;
  /** Project id (preferred: no encoding issues) or name. */
  readonly project: string;
  /** The job's access token (SystemVssConnection). Sent only to collectionUri. */
  readonly token: string;
  readonly userAgent?: string;
  /** Attempts for a throttled (429) or unavailable (503) answer; 3 unless told. */
  readonly maxAttempts?: number;
  /** The longest Retry-After honoured, in seconds; a longer one fails at once. */
  readonly maxRetryAfterSeconds?: number;
  readonly timeoutMs?: number;
  /**
   * The task's network. Its Agent.SkipCertValidation applies here, and only here: task-lib hands
   * the setting to azure-devops-node-api, which skips certificate checks for Azure DevOps calls.
   */
  readonly network?: Network;
}

export const API_VERSION = '7.1';

/** The largest answers read are the timelines of big builds, a few MiB. */
const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

export class AzureDevOpsClient {
  private readonly base: string;
  private readonly options: AzureDevOpsClientOptions;
  private readonly transport: Transport;

  constructor(options: AzureDevOpsClientOptions) {
    const collection = options.collectionUri.endsWith('/') ? options.collectionUri : `${options.collectionUri}/`;
    let url: URL;
    try {
      url = new URL(collection);
    } catch {
      throw new DigestReleaseError('AZURE_DEVOPS_ERROR', `The collection URI "${options.collectionUri}" is not a URL.`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new DigestReleaseError(
        'AZURE_DEVOPS_ERROR',
        `The collection URI "${options.collectionUri}" is not an http(s) URL.`,
      );
    }
    this.base = `${url.toString()}${encodeURIComponent(options.project)}/_apis/`;
    this.options = options;
    this.transport = new Transport({
      peer: 'Azure DevOps server',
      maxAttempts: options.maxAttempts ?? 3,
      maxRetryAfterMs: (options.maxRetryAfterSeconds ?? 30) * 1000,
      timeoutMs: options.timeoutMs ?? 30_000,
      ...(options.userAgent !== undefined ? { userAgent: options.userAgent } : {}),
      ...(options.network !== undefined ? { network: options.network } : {}),
      agentMaySkipCertValidation: true,
    });
  }

  /** GET `_apis/<path>` with api-version 7.1 and the given query; the parsed JSON body. */
  async get(path: string, query: Record<string, string> = {}): Promise<unknown> {
    const params = new URLSearchParams({ ...query, 'api-version': API_VERSION });
    const what = `GET ${path}`;
    // The shared transport retries 429 and 5xx (after Retry-After), resets and time-outs.
    const response = await this.transport.send({
      method: 'GET',
      url: `${this.base}${path}?${params.toString()}`,
      headers: { Accept: 'application/json', Authorization: `Bearer ${this.options.token}` },
    });
    return this.readJson(response, what);
  }

  private async readJson(response: HttpResponse, what: string): Promise<unknown> {
    const status = response.status;
    const contentType = (response.headers.get('content-type') ?? '').toLowerCase();
    const isJson = contentType.includes('application/json');
    if (status >= 300 && status < 400) {
      await response.body?.cancel();
      throw new DigestReleaseError(
        'AZURE_DEVOPS_ERROR',
        `Azure DevOps redirected ${what} (${status}) to a sign-in page: the job's access token was not accepted.`,
        { status },
      );
    }
    if (!isJson) {
      await response.body?.cancel();
      const why = contentType.includes('text/html')
        ? 'a sign-in page (HTML), which is how it refuses a token it does not accept'
        : `"${contentType || 'no content type'}"`;
      throw new DigestReleaseError('AZURE_DEVOPS_ERROR', `Azure DevOps answered ${what} with ${status} and ${why}.`, {
        status,
      });
    }
    const body = await readJsonUpTo(response, {
      bytes: MAX_ANSWER_BYTES,
      what: `Azure DevOps' answer to ${what}`,
      kind: 'an answer of its REST API',
      code: 'AZURE_DEVOPS_ERROR',
    });
    if (body === undefined) {
      throw new DigestReleaseError(
        'AZURE_DEVOPS_ERROR',
        `Azure DevOps answered ${what} with ${status} and a body that is not JSON.`,
        { status },
      );
    }
    if (status === 200) return body;
    const message = serverMessage(body);
    const detail = message ? `: ${message}` : '';
    if (status === 429) {
      throw new DigestReleaseError(
        'AZURE_DEVOPS_ERROR',
        `Azure DevOps throttled ${what} (429)${detail} for longer than this task waits; try again later.`,
        { status },
      );
    }
    if (status === 401 || status === 403) {
      throw new DigestReleaseError(
        'AZURE_DEVOPS_ERROR',
        `Azure DevOps refused ${what} (${status})${detail}. The job's token may not read builds and approvals of this project: check the job authorization scope and the build service's permissions.`,
        { status },
      );
    }
    throw new DigestReleaseError('AZURE_DEVOPS_ERROR', `Azure DevOps answered ${what} with ${status}${detail}.`, {
      status,
    });
  }
}

/** The `message` of Azure DevOps' error envelope, when the body is one. */
function serverMessage(body: unknown): string | undefined {
  if (!isRecord(body)) return undefined;
  const message = body.message;
  return typeof message === 'string' ? message : undefined;
}
