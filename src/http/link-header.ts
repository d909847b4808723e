// The next page of a paginated listing (tags, referrers): the target of the `Link` header's link
// whose relation is `next` (RFC 8288), resolved against the request it answered. A target on the
// registry comes back as a path, so the client signs it; one elsewhere stays absolute, and the
// client sends credentials only to the registry itself.

/** Stands in for the registry's origin while resolving; never sent anywhere. */
const PLACEHOLDER_ORIGIN = 'https://registry.invalid';

/** `<target>` then its parameters, up to the next link-value. */
const LINK_VALUE = /<([^>]*)>([^<]*)/g;
const REL_PARAM = /(?:^|;)\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))/i;

/**
 * The path (or absolute URL, for a target on another origin) of the next page, or undefined when
 * the header names none. `current` is the path or URL of the request the header answered.
 */
export function nextLink(header: string | null, current: string): string | undefined {
  if (!header) return undefined;
  for (const [, target, params] of header.matchAll(LINK_VALUE)) {
    const rel = REL_PARAM.exec(params ?? '');
    const relations = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/);
    if (target === undefined || !relations.includes('next')) continue;
    const base = new URL(current, `${PLACEHOLDER_ORIGIN}/`);
    let next: URL;
    try {
      next = new URL(target, base);
    } catch {
      return undefined;
    }
    return next.origin === base.origin && base.origin === PLACEHOLDER_ORIGIN
      ? `${next.pathname}${next.search}`
      : next.toString();
  }
  return undefined;
}
