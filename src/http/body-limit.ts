import type { ErrorCode } from '../errors';
import { DigestReleaseError, isDigestReleaseError } from '../errors';
import type { HttpResponse } from './response';
import { parseJson } from '../json';
import { sizeText } from '../size';

// Answers from a peer (registry, token service, Resource Manager, Azure DevOps) are read only up
// to a limit for their kind: a proxy's page, a misbehaving server or an endless body is cut there
// instead of being held whole in memory. The limit is far above what a real answer of the kind is.

export interface BodyLimit {
  /** The most bytes read. */
  readonly bytes: number;
  /** The answer, starting a sentence: "The answer of the token service of myregistry.io". */
  readonly what: string;
  /** What such an answer is, for the message: "a token answer". */
  readonly kind: string;
  /** The code of the error when the answer is larger: the peer's own (REGISTRY_ERROR, ARM_ERROR, ...). */
  readonly code: ErrorCode;
}

/** The body, up to `limit.bytes`; a larger one (declared or as it streams) is an error and is not read on. */
export async function readBodyUpTo(response: HttpResponse, limit: BodyLimit): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit.bytes) {
    await response.body?.cancel();
    throw tooLarge(limit, `is ${declared} bytes, more than ${limit.kind} can be (${sizeText(limit.bytes)})`);
  }
  const body = await response.bytesUpTo(limit.bytes);
  if (body === undefined) throw tooLarge(limit, `runs past ${sizeText(limit.bytes)}, more than ${limit.kind} can be`);
  return body;
}

/**
 * The body parsed as JSON, up to `limit.bytes`. Undefined when it is not JSON or broke off (the
 * caller says what it expected); a larger body is an error.
 */
export async function readJsonUpTo(response: HttpResponse, limit: BodyLimit): Promise<unknown> {
  let body: Buffer;
  try {
    body = await readBodyUpTo(response, limit);
  } catch (err) {
    if (isDigestReleaseError(err)) throw err;
    return undefined;
  }
  return parseJson(body.toString('utf8'));
}

function tooLarge(limit: BodyLimit, how: string): DigestReleaseError {
  return new DigestReleaseError(
    limit.code,
    `${limit.what} ${how}; it was not read further. Check what was asked for, and that nothing between the agent and the server (a proxy, a captive portal) answers in its place.`,
  );
}
