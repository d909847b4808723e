import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

// What every service the ACR front plays writes on the wire the same way: ACR's response headers,
// JSON or text bodies, the token format, and the registry behind the front as a function to call.

export const DIGEST = /^sha256:[a-f0-9]{64}$/;
export const OCI_INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';
/** The sha256-<hex> tags of the referrers tag schema: the front's storage, never shown as ACR's (see referrers.ts). */
export const TAG_SCHEMA = /^sha256-[a-f0-9]{64}$/;
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** A request to the registry behind the front (its OCI API, which holds every byte). */
export type Upstream = (
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
) => Promise<Response>;

/** Passes a request through to the registry behind; `after` adds headers once its answer is known. */
export type Relay = (
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
  after?: (answer: Response) => Promise<Record<string, string>>,
) => Promise<void>;

export type Send = (res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>) => void;

export const acrHeaders = (): Record<string, string> => ({
  'Docker-Distribution-Api-Version': 'registry/2.0',
  Server: 'openresty',
  'X-Ms-Correlation-Request-Id': randomUUID(),
  'Access-Control-Expose-Headers': 'Docker-Content-Digest, WWW-Authenticate, Link, X-Ms-Correlation-Request-Id',
});

/** An answer with ACR's headers: a string body as text, anything else as JSON. */
export const send: Send = (res, status, body, headers = {}) => {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    ...acrHeaders(),
    ...headers,
  });
  res.end(text);
};

/** A token shaped as a JWT; the front remembers what it issued, so the signature is only random bytes. */
export function jwt(payload: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(payload)}.${randomBytes(32).toString('base64url')}`;
}

export function decodeJwt(
  token: string,
):
  | { header: Record<string, unknown>; payload: Record<string, unknown>; signed: Buffer; signature: Buffer }
  | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header: unknown = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
    const payload: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    if (typeof header !== 'object' || header === null || typeof payload !== 'object' || payload === null)
      return undefined;
    return {
      header: { ...header },
      payload: { ...payload },
      signed: Buffer.from(`${parts[0]}.${parts[1]}`),
      signature: Buffer.from(parts[2]!, 'base64url'),
    };
  } catch {
    return undefined;
  }
}

export function jsonRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...value } : undefined;
}

export function parseJsonRecord(bytes: Buffer): Record<string, unknown> | undefined {
  try {
    return jsonRecord(JSON.parse(bytes.toString('utf8')));
  } catch {
    return undefined;
  }
}
