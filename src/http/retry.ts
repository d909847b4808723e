// Which failures are tried again and how long to wait between attempts: the retry policy every
// HTTP client of the project (registry, Entra ID token exchange, Resource Manager, Azure DevOps)
// keeps. Transport (transport.ts) applies it; the messages of failures (failures.ts) quote it.

/** Answers tried again: throttled (429), unavailable (503), and other transient server errors. */
export const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
/** Network failures tried again; refused connections, unknown hosts and TLS failures are not. */
export const RETRY_NETWORK_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED']);
/** How a body that broke off midway fails, besides the network codes above. */
const LOST_BODY_CODES = new Set([...RETRY_NETWORK_CODES, 'ERR_STREAM_PREMATURE_CLOSE']);

/** A body that broke off: the connection was reset or closed before the body was complete. */
export function isLostBody(err: unknown): boolean {
  const code = networkCode(err);
  return LOST_BODY_CODES.has(code) || code.startsWith('HPE_') || (err instanceof Error && err.message === 'aborted');
}

/** No pause between attempts is longer than this, however many attempts are allowed. */
const MAX_BACKOFF_MS = 30_000;

/** The pause after failed attempt `attempt` (1 for the first): `baseMs`, doubling with each, bounded. */
export function backoffDelay(baseMs: number, attempt: number): number {
  return Math.min(MAX_BACKOFF_MS, Math.max(0, baseMs) * 2 ** (attempt - 1));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Retry-After is either seconds or an HTTP date. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** The system error code behind a failed request, looked for down the cause chain. */
export function networkCode(err: unknown): string {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    // Happy eyeballs (IPv4 and IPv6 tried in turn) fails with an AggregateError of both attempts.
    const errors = (current as { errors?: unknown }).errors;
    current = Array.isArray(errors) && errors.length > 0 ? errors[0] : (current as { cause?: unknown }).cause;
  }
  return 'UNKNOWN';
}
