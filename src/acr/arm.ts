import { asRecord, parseJson } from '../json';
import { readBodyUpTo, readJsonUpTo } from '../http/body-limit';
import { MAX_ERROR_BODY_BYTES } from '../registry/error-answers';
import type { HttpResponse } from '../http/response';
import { DigestReleaseError } from '../errors';
import type { Network } from '../http/network';
import { Transport } from '../http/transport';
import { retryAfterMs } from '../http/retry';
import type { EntraTokenSource } from './exchange';

// The few Azure Resource Manager calls ACR's server-side import needs: list the container
// registries of a subscription (to find a registry's resource from its login server), and the
// long-running importImage operation. The Entra ID token is for Resource Manager and goes only to
// the Resource Manager URL of the connection's cloud: paging links and operation URLs on any other
// origin are refused, never followed with the token.

export const ARM_CONTAINER_REGISTRY_API_VERSION = '2023-07-01';

/** A page of the registry list: ARM pages at most a thousand or so resources of a few KiB. */
const MAX_LIST_PAGE_BYTES = 16 * 1024 * 1024;
/** An operation's status: its state and perhaps an error. */
const MAX_OPERATION_BYTES = 1024 * 1024;

export interface ArmRegistry {
  /** /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.ContainerRegistry/registries/<name> */
  readonly id: string;
  readonly name: string;
  /** myregistry.azurecr.io */
  readonly loginServer: string;
}

export interface ArmOptions {
  /** The connection's Resource Manager URL, https://management.azure.com for the public cloud. */
  readonly resourceManagerUrl: string;
  readonly tokens: EntraTokenSource;
  readonly transport?: Transport;
  /** The task's network, for the transport made here when none is given. */
  readonly network?: Network;
  readonly onSecret?: (value: string) => void;
}

/** A long-running operation's answer: still running, done, or failed with ARM's code and message. */
export type OperationState =
  | { readonly status: 'running'; readonly retryAfterMs: number | undefined }
  | { readonly status: 'succeeded' }
  | { readonly status: 'failed'; readonly code: string; readonly message: string; readonly terminal: string };

export interface ArmError {
  readonly code: string;
  readonly message: string;
}

/** `{"error":{"code","message"}}`, ARM's error shape; undefined when the body is not one. */
export function armErrorOf(body: unknown): ArmError | undefined {
  const error = asRecord(asRecord(body)?.error);
  if (!error) return undefined;
  const code = typeof error.code === 'string' ? error.code : '';
  const message = typeof error.message === 'string' ? error.message : '';
  return code === '' && message === '' ? undefined : { code, message };
}

export class ArmClient {
  readonly origin: string;
  private readonly transport: Transport;
  private token: { value: string; expiresAt: number } | undefined;

  constructor(private readonly options: ArmOptions) {
    let url: URL;
    try {
      url = new URL(options.resourceManagerUrl);
    } catch {
      throw new DigestReleaseError(
        'CREDENTIALS',
        `The Resource Manager URL "${options.resourceManagerUrl}" of ${options.tokens.description} is not a URL. Edit the service connection's environment.`,
      );
    }
    this.origin = url.origin;
    this.transport =
      options.transport ??
      new Transport({
        peer: 'Azure Resource Manager endpoint',
        ...(options.network ? { network: options.network } : {}),
      });
  }

  get description(): string {
    return this.options.tokens.description;
  }

  /** Every container registry of the subscription, following nextLink pages. */
  async listRegistries(subscriptionId: string): Promise<ArmRegistry[]> {
    const registries: ArmRegistry[] = [];
    let url: string | undefined =
      `${this.origin}/subscriptions/${encodeURIComponent(subscriptionId)}/providers/Microsoft.ContainerRegistry/registries?api-version=${ARM_CONTAINER_REGISTRY_API_VERSION}`;
    const what = `the container registries of subscription ${subscriptionId}`;
    for (let page = 0; url !== undefined; page++) {
      if (page >= 100)
        throw new DigestReleaseError(
          'ARM_ERROR',
          `Azure Resource Manager listed ${what} in more than 100 pages; stopped reading.`,
        );
      const response = await this.send('GET', url, what);
      const body = await readJsonUpTo(response, {
        bytes: MAX_LIST_PAGE_BYTES,
        what: `Azure Resource Manager's list of ${what}`,
        kind: 'a page of resources',
        code: 'ARM_ERROR',
      });
      const value = asRecord(body)?.value;
      if (!Array.isArray(value))
        throw new DigestReleaseError(
          'ARM_ERROR',
          `Azure Resource Manager answered the list of ${what} without a "value" array.`,
        );
      for (const item of value) {
        const resource = asRecord(item);
        const loginServer = asRecord(resource?.properties)?.loginServer;
        if (typeof resource?.id === 'string' && typeof resource.name === 'string' && typeof loginServer === 'string') {
          registries.push({ id: resource.id, name: resource.name, loginServer });
        }
      }
      const next = asRecord(body)?.nextLink;
      url = typeof next === 'string' && next !== '' ? this.sameOrigin(next, 'nextLink') : undefined;
    }
    return registries;
  }

  /** POSTs an action on a resource; answers the URL to poll when ARM runs it as a long-running operation. */
  async beginAction(
    resourceId: string,
    action: string,
    body: unknown,
    what: string,
  ): Promise<{ pollUrl: string | undefined; retryAfterMs: number | undefined }> {
    const url = `${this.origin}${resourceId}/${action}?api-version=${ARM_CONTAINER_REGISTRY_API_VERSION}`;
    const response = await this.send('POST', url, what, JSON.stringify(body));
    await response.body?.cancel();
    if (response.status === 200 || response.status === 204) return { pollUrl: undefined, retryAfterMs: undefined };
    // 202: Azure-AsyncOperation is the status resource; Location answers 202 until done.
    const poll = response.headers.get('azure-asyncoperation') ?? response.headers.get('location');
    if (!poll)
      throw new DigestReleaseError(
        'ARM_ERROR',
        `Azure Resource Manager accepted ${what} (${response.status}) but gave no Azure-AsyncOperation or Location to follow it.`,
      );
    return { pollUrl: this.sameOrigin(poll, 'the operation URL'), retryAfterMs: retryAfter(response) };
  }

  /** One look at a long-running operation, by its Azure-AsyncOperation or Location URL. */
  async pollOperation(pollUrl: string, what: string): Promise<OperationState> {
    const response = await this.send('GET', pollUrl, what, undefined, true);
    if (response.status === 202) {
      await response.body?.cancel();
      return { status: 'running', retryAfterMs: retryAfter(response) };
    }
    const text = (
      await readBodyUpTo(response, {
        bytes: MAX_OPERATION_BYTES,
        what: `Azure Resource Manager's status of ${what}`,
        kind: 'the status of an operation',
        code: 'ARM_ERROR',
      })
    ).toString('utf8');
    if (!response.ok) {
      const error = armErrorOf(parseJson(text));
      return {
        status: 'failed',
        code: error?.code ?? String(response.status),
        message: error?.message ?? text.slice(0, 500),
        terminal: `HTTP ${response.status}`,
      };
    }
    const body = asRecord(parseJson(text));
    const status = typeof body?.status === 'string' ? body.status : undefined;
    // A Location URL answers 200 or 204 when done, with or without a body; the status resource names its state.
    if (status === undefined || /^succeeded$/i.test(status)) return { status: 'succeeded' };
    if (/^(failed|canceled|cancelled)$/i.test(status)) {
      const error = armErrorOf(body) ?? { code: status, message: '' };
      return { status: 'failed', code: error.code, message: error.message, terminal: status };
    }
    return { status: 'running', retryAfterMs: retryAfter(response) };
  }

  private sameOrigin(link: string, what: string): string {
    let url: URL;
    try {
      url = new URL(link, `${this.origin}/`);
    } catch {
      throw new DigestReleaseError(
        'ARM_ERROR',
        `Azure Resource Manager answered ${what} "${link}", which is not a URL.`,
      );
    }
    if (url.origin !== this.origin) {
      throw new DigestReleaseError(
        'ARM_ERROR',
        `Azure Resource Manager answered ${what} on ${url.origin}, not on ${this.origin}; the Resource Manager token is not sent there. Check the Resource Manager URL of ${this.description}.`,
      );
    }
    return url.toString();
  }

  private async bearer(): Promise<string> {
    if (this.token && this.token.expiresAt > Date.now() + 60_000) return this.token.value;
    const token = await this.options.tokens.getToken();
    this.options.onSecret?.(token.token);
    this.token = { value: token.token, expiresAt: token.expiresOnTimestamp };
    return token.token;
  }

  private async send(
    method: 'GET' | 'POST',
    url: string,
    what: string,
    body?: string,
    answerAny = false,
  ): Promise<HttpResponse> {
    const headers: Record<string, string> = {
      Authorization: `Bearer ${await this.bearer()}`,
      Accept: 'application/json',
    };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await this.transport.send({ method, url, headers, ...(body !== undefined ? { body } : {}) });
    if (response.ok || (answerAny && response.status < 500 && response.status !== 401 && response.status !== 403))
      return response;
    throw await this.failure(response, what);
  }

  private async failure(response: HttpResponse, what: string): Promise<DigestReleaseError> {
    // Only as far as an error answer can be: the status is the failure, the body only explains it.
    const body = await readJsonUpTo(response, {
      bytes: MAX_ERROR_BODY_BYTES,
      what: 'The error answer',
      kind: 'an error answer',
      code: 'ARM_ERROR',
    }).catch(() => undefined);
    const error = armErrorOf(body);
    const detail = error ? ` (${[error.code, error.message].filter((part) => part).join(': ')})` : '';
    const status = response.status;
    if (status === 401) {
      return new DigestReleaseError(
        'UNAUTHORIZED',
        `Azure Resource Manager at ${this.origin} refused the token of ${this.description} for ${what}${detail}. Check that the service connection is for this cloud (its Resource Manager URL) and tenant.`,
        { status },
      );
    }
    if (status === 403) {
      return new DigestReleaseError(
        'DENIED',
        `Azure Resource Manager denied ${what} to the identity of ${this.description}${detail}. ` +
          'Listing registries needs Reader on the subscription (or on the registries); importing needs a role with Microsoft.ContainerRegistry/registries/importImage/action on the target registry (Contributor on the target registry, or a custom role with that action) and pull access to the source.',
        { status },
      );
    }
    return new DigestReleaseError('ARM_ERROR', `Azure Resource Manager answered ${status} to ${what}${detail}.`, {
      status,
    });
  }
}

function retryAfter(response: HttpResponse): number | undefined {
  return retryAfterMs(response.headers.get('retry-after'));
}
