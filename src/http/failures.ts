import { DigestReleaseError, messageOf } from '../errors';
import type { Network } from './network';
import { DIRECT_NETWORK } from './network';
import type { HttpResponse, SentRequest } from './response';
import { RETRY_STATUS, networkCode } from './retry';
import { STALL_VARIABLE, proxyName } from './settings';
import type { StallError } from './stall';
import { stallBehind } from './stall';

// The errors of a request that failed for good, each naming the peer, the request, how far it got
// and what to check: no answer (UNREACHABLE), a stall (STALLED), an answer lost midway, and the
// note an answer that was retried adds to its caller's error.

export function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** `GET /v2/app/manifests/1.0`: a request as messages name it (no query: upload sessions and signatures are noise). */
export function requestName(request: SentRequest): string {
  const url = new URL(request.url);
  return `${request.method} ${url.pathname}`;
}

/** What to check after a stall, and the setting that says how long a silence is one. */
function stallAdvice(host: string, stallMs: number, network: Network, url: URL): string {
  const proxy = network.proxyFor(url);
  return (
    `Check the network between the agent and ${host}${proxy ? ` (and the agent's proxy ${proxyName(proxy)})` : ''} and the health of the registry, then run again; ` +
    `how long a silence counts as a stall is the pipeline variable ${STALL_VARIABLE} (${seconds(stallMs)} now).`
  );
}

export interface StallContext {
  readonly stallMs: number;
  readonly attempts: number;
  /** The operation stalled once too often: it is not tried again. */
  readonly gaveUp?: boolean;
  /** The request's body size, when known. */
  readonly total?: number;
  readonly network?: Network;
}

/** The STALLED error for a request whose sending or answer stalled: the peer, the request, how far it got. */
export function stallError(
  peer: string,
  request: SentRequest,
  stall: StallError,
  context: StallContext,
): DigestReleaseError {
  const url = new URL(request.url);
  const of = context.total === undefined ? '' : ` of ${context.total}`;
  const what =
    stall.phase === 'answer'
      ? `did not answer ${requestName(request)} within ${seconds(stall.waitedMs)} of receiving it${stall.bytesSent > 0 ? ` (${stall.bytesSent} bytes)` : ''}`
      : stall.phase === 'body'
        ? `stopped sending its answer to ${requestName(request)}: nothing came for ${seconds(stall.waitedMs)}`
        : `stopped taking the request ${requestName(request)} after ${stall.bytesSent}${of} bytes: nothing moved for ${seconds(stall.waitedMs)}`;
  return new DigestReleaseError(
    'STALLED',
    `The ${peer} ${url.host} ${what}.${triesText(context)} ${stallAdvice(url.host, context.stallMs, context.network ?? DIRECT_NETWORK, url)}`,
    { cause: stall, host: url.host },
  );
}

function triesText(context: { readonly attempts: number; readonly gaveUp?: boolean }): string {
  if (context.gaveUp) return ' It stalled twice, so it was not tried again.';
  return context.attempts > 1 ? ` It was tried ${context.attempts} times.` : '';
}

export interface LostContext {
  readonly stallMs: number;
  /** Attempts made at it, when the caller counts them. */
  readonly attempts?: number;
  readonly network?: Network;
  /** What was being sent, for the message ("the blob sha256:… in host/repo"); the request when not given. */
  readonly what?: string;
  /** The size the body should have; the answer's Content-Length when not given. */
  readonly size?: number;
}

/**
 * The error for an answer whose body was lost midway: it stalled (STALLED) or the connection
 * dropped (UNREACHABLE). Names the peer, what it was sending and how far it got.
 */
export function lostAnswer(
  peer: string,
  response: HttpResponse,
  err: unknown,
  received: number,
  context: LostContext,
): DigestReleaseError {
  const url = new URL(response.request.url);
  const what = context.what ?? `its answer to ${requestName(response.request)}`;
  const size = context.size ?? response.declaredLength;
  const of = size === undefined ? '' : ` of ${size}`;
  const tries =
    context.attempts !== undefined && context.attempts > 1 ? ` It was asked ${context.attempts} times.` : '';
  const stall = stallBehind(err);
  if (stall) {
    return new DigestReleaseError(
      'STALLED',
      `The ${peer} ${url.host} stopped sending ${what} after ${received}${of} bytes: nothing came for ${seconds(stall.waitedMs)}.${tries} ${stallAdvice(url.host, context.stallMs, context.network ?? DIRECT_NETWORK, url)}`,
      { cause: err, host: url.host },
    );
  }
  const code = networkCode(err);
  const why = code === 'UNKNOWN' ? messageOf(err) : code;
  return new DigestReleaseError(
    'UNREACHABLE',
    `The ${peer} ${url.host} dropped the connection while sending ${what}, after ${received}${of} bytes (${why}).${tries} ` +
      `Nothing of it is kept; if it keeps happening, check the network between the agent and ${url.host}.`,
    { cause: err, host: url.host },
  );
}

/**
 * What an answer that was retried, or refused a retry, adds to the error of its caller: how often
 * the peer answered so, and what to do. Empty for an answer that was not retried.
 */
export function retriesNote(response: HttpResponse): string {
  if (response.refusedRetryAfterMs !== undefined) {
    return ` It asked to be asked again in ${seconds(response.refusedRetryAfterMs)} (Retry-After), longer than a task waits: run again later.`;
  }
  if (!RETRY_STATUS.has(response.status) || response.attempts < 2) return '';
  return ` It answered so to all ${response.attempts} attempts: it is failing or overloaded. Check its health (or status page), then run again.`;
}

/** The innermost message: a wrapped error's reason is in its cause. */
function innermostMessage(err: unknown): string {
  let message = messageOf(err);
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    message = current.message;
    current = current.cause;
  }
  return message;
}

/** The error for a request that got no answer: what went wrong, and where to fix it. */
export function unreachable(
  peer: string,
  host: string,
  code: string,
  err: unknown,
  attempts: number,
  network: Network = DIRECT_NETWORK,
  url?: URL,
  reason?: string,
): DigestReleaseError {
  const proxy = url === undefined ? undefined : network.proxyFor(url);
  const caFile = network.settings.caFile;
  let why: string;
  if (reason !== undefined) why = reason;
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    why = `the host name "${host.replace(/:\d+$/, '')}" could not be resolved; check the ${peer} name`;
    // Behind a proxy only the proxy may resolve outside names: a host that bypassed it must resolve here.
    if (network.settings.proxy !== undefined && proxy === undefined)
      why += `, and whether it should go through the agent's proxy (it matches the bypass list, Agent.ProxyBypassList, or is a loopback or link-local address)`;
  } else if (code === 'ECONNREFUSED')
    why = `the connection was refused; check the host and port, and that the ${peer} is running`;
  else if (code.includes('TIMEOUT') || code === 'ETIMEDOUT') why = 'it did not answer in time';
  else if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|SSL/.test(code)) {
    why =
      caFile !== undefined
        ? `its TLS certificate was not accepted (${code}): it is not signed by an authority the agent trusts (the system's, and Agent.CAInfo "${caFile}"); if the ${peer} uses another private CA, add it to the agent's CA file`
        : `its TLS certificate was not accepted (${code}); if the ${peer} uses a private CA, configure the agent with it (./config.sh --sslcacert, which tasks read as Agent.CAInfo) or point NODE_EXTRA_CA_CERTS at the CA file in the agent's environment`;
    if (network.settings.skipCertValidation)
      why +=
        '; Agent.SkipCertValidation applies only to Azure DevOps, never to registries, Entra ID or Resource Manager';
  } else why = code === 'UNKNOWN' ? innermostMessage(err) : code;
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  const via = proxy !== undefined ? ` through the agent's proxy ${proxyName(proxy)}` : '';
  return new DigestReleaseError('UNREACHABLE', `Could not reach the ${peer} ${host}${via}${tries}: ${why}.`, {
    cause: err,
    host,
  });
}
