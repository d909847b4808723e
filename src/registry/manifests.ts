import { DigestReleaseError } from '../errors';
import { Digest, isDigest, sha256Of } from '../reference/digest';
import { checkClaimedDigest } from './claimed';
import { RegistryClient, pushScope } from './client';
import { describeErrors, readErrorBody, unexpectedAnswer } from './error-answers';

// Writing a manifest, by digest or under a tag. The digest is ours (the hash of the bytes we send);
// the registry's Docker-Content-Digest must agree, and a digest reference must be that hash.

export async function putManifest(client: RegistryClient, repository: string, tagOrDigest: string, bytes: Uint8Array<ArrayBuffer>, mediaType: string): Promise<Digest> {
  return (await writeManifest(client, repository, tagOrDigest, bytes, mediaType)).digest;
}

export interface ManifestWritten {
  readonly digest: Digest;
  /** The OCI-Subject header: the registry indexed the manifest's subject for the referrers API. */
  readonly ociSubject: string | undefined;
}

/** putManifest, with what the registry said about the subject. */
export async function writeManifest(client: RegistryClient, repository: string, tagOrDigest: string, bytes: Uint8Array<ArrayBuffer>, mediaType: string): Promise<ManifestWritten> {
  const digest = sha256Of(bytes);
  const name = `${client.registry}/${repository}${isDigest(tagOrDigest) ? '@' : ':'}${tagOrDigest}`;
  if (isDigest(tagOrDigest) && tagOrDigest !== digest) {
    throw new DigestReleaseError('DIGEST_MISMATCH', `The manifest bytes to write as ${name} hash to ${digest}; a manifest is written only under its own digest.`);
  }
  const response = await client.request({
    method: 'PUT',
    path: `/v2/${repository}/manifests/${tagOrDigest}`,
    scope: pushScope(repository),
    headers: { 'Content-Type': mediaType },
    body: bytes,
  });
  if (response.status !== 201 && response.status !== 200) {
    const entries = response.body ? await readErrorBody(response) : [];
    const detail = describeErrors(entries);
    const suffix = detail ? ` (${detail})` : '';
    const status = response.status;
    if (status === 403) throw new DigestReleaseError('DENIED', `The ${client.name} denied writing ${name}${suffix}. Check that the credentials may push to ${repository}.`, { status });
    if (entries.some((e) => e.code === 'MANIFEST_BLOB_UNKNOWN' || e.code === 'BLOB_UNKNOWN')) {
      throw new DigestReleaseError('BLOB_UNKNOWN', `The ${client.name} refused ${name}: a blob it names is not in ${repository}${suffix}.`, { status });
    }
    throw unexpectedAnswer(client.name, response, `to writing ${name}`, entries);
  }
  await response.body?.cancel();
  checkClaimedDigest(response, {
    expected: digest,
    mismatch: (claimed) =>
      `The ${client.name} stored the manifest written as ${name} under ${claimed}, but its bytes hash to ${digest}. The registry rewrote the manifest; it cannot hold this digest, so promote to a registry that keeps manifests as they are.`,
  });
  return { digest, ociSubject: response.headers.get('oci-subject')?.trim() || undefined };
}
