// The text of an image value as a person wrote it, split without normalising, so a rewrite keeps
// `nginx` as `nginx` rather than turning it into `docker.io/library/nginx`.

/** The name part of a reference as written: no tag, no digest. */
export function nameText(value: string): string {
  const text = value.trim();
  const at = text.indexOf('@');
  const withoutDigest = at >= 0 ? text.slice(0, at) : text;
  const slash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  return colon > slash ? withoutDigest.slice(0, colon) : withoutDigest;
}

/** Whether a value holds a Go template action (Helm `{{ }}`), which DigestPin does not evaluate. */
export function hasTemplate(value: string): boolean {
  return value.includes('{{');
}
