import { DigestReleaseError, messageOf } from '../errors';

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
}

export const API_VERSION = '7.1';

export class AzureDevOpsClient {
  private readonly base: string;
  private readonly options: AzureDevOpsClientOptions;

  constructor(options: AzureDevOpsClientOptions) {
    const collection = options.collectionUri.endsWith('/') ? options.collectionUri : `${options.collectionUri}/`;
    let url: URL;
    try {
      url = new URL(collection);
    } catch {
      throw new DigestReleaseError('AZURE_DEVOPS_ERROR', `The collection URI "${options.collectionUri}" is not a URL.`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new DigestReleaseError('AZURE_DEVOPS_ERROR', `The collection URI "${options.collectionUri}" is not an http(s) URL.`);
    }
    this.base = `${url.toString()}${encodeURIComponent(options.project)}/_apis/`;
    this.options = options;
  }

  /** GET `_apis/<path>` with api-version 7.1 and the given query; the parsed JSON body. */
  async get(path: string, query: Record<string, string> = {}): Promise<unknown> {
    const params = new URLSearchParams({ ...query, 'api-version': API_VERSION });
    const url = `${this.base}${path}?${params.toString()}`;
    const what = `GET ${path}`;
    const attempts = Math.max(1, this.options.maxAttempts ?? 3);
    for (let attempt = 1; ; attempt++) {
      const response = await this.send(url, what);
      if ((response.status === 429 || response.status === 503) && attempt < attempts) {
        const wait = retryAfterSeconds(response.headers.get('retry-after'));
        await response.body?.cancel();
        if (wait <= (this.options.maxRetryAfterSeconds ?? 30)) {
          await sleep(wait * 1000);
          continue;
        }
        throw new DigestReleaseError('AZURE_DEVOPS_ERROR', `Azure DevOps throttled ${what} and asked to wait ${wait} seconds, longer than this task waits.`, {
          status: response.status,
        });
      }
      return this.readJson(response, what);
    }
  }

  private async send(url: string, what: string): Promise<Response> {
    try {
      return await fetch(url, {
        method: 'GET',
        redirect: 'manual',
        headers: {
          Accept: 'application/json',
          Authorization: `Bearer ${this.options.token}`,
          'User-Agent': this.options.userAgent ?? 'digest-release',
        },
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw new DigestReleaseError('AZURE_DEVOPS_ERROR', `Azure DevOps could not be reached for ${what} at ${new URL(url).origin}: ${messageOf(causeOf(err))}.`, { cause: err });
    }
  }

  private async readJson(response: Response, what: string): Promise<unknown> {
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
      const why =
        contentType.includes('text/html') ? 'a sign-in page (HTML), which is how it refuses a token it does not accept' : `"${contentType || 'no content type'}"`;
      throw new DigestReleaseError('AZURE_DEVOPS_ERROR', `Azure DevOps answered ${what} with ${status} and ${why}.`, { status });
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      throw new DigestReleaseError('AZURE_DEVOPS_ERROR', `Azure DevOps answered ${what} with ${status} and a body that is not JSON.`, { status });
    }
    if (status === 200) return body;
    const message = serverMessage(body);
    const detail = message ? `: ${message}` : '';
    if (status === 401 || status === 403) {
      throw new DigestReleaseError(
        'AZURE_DEVOPS_ERROR',
        `Azure DevOps refused ${what} (${status})${detail}. The job's token may not read builds and approvals of this project: check the job authorization scope and the build service's permissions.`,
        { status },
      );
    }
    throw new DigestReleaseError('AZURE_DEVOPS_ERROR', `Azure DevOps answered ${what} with ${status}${detail}.`, { status });
  }
}

/** The `message` of Azure DevOps' error envelope, when the body is one. */
function serverMessage(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const message: unknown = Reflect.get(body, 'message');
  return typeof message === 'string' ? message : undefined;
}

function retryAfterSeconds(header: string | null): number {
  if (header === null) return 1;
  const seconds = Number(header.trim());
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(header);
  return Number.isNaN(date) ? 1 : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function causeOf(err: unknown): unknown {
  return err instanceof Error && err.cause !== undefined ? err.cause : err;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
