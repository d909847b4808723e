import type { ChangeableAttributes, ListedManifest } from '../acr/properties';
import { getManifestProperties, updateManifestProperties } from '../acr/properties';
import { DigestReleaseError, isDigestReleaseError, messageOf } from '../errors';
import { runPool } from '../pool';
import type { Digest } from '../reference/digest';
import type { RegistryClient } from '../registry/client';
import type { Holder, Need, Scope } from './protection';
import { planProtect, planRelease, recordAfterProtect, recordAfterRelease } from './protection';
import type { ProtectionRecord } from './record';
import { RECORD_TAG, readRecord, writeRecord } from './record';

// protect on Azure Container Registry, carried out: every manifest the kept releases need gets
// deleteEnabled=false (ACR's purge and retention skip what cannot be deleted), read back; the record
// of what this task protected is written; then the manifests of that record that no kept release
// needs any more get deleteEnabled=true, read back, and leave the record. Only deleteEnabled is
// ever sent: whatever anyone set on writeEnabled stays. A change that does not read back fails the
// step, after the record has been written for everything that did take.

/** Manifests changed or read at once. */
const CONCURRENCY = 8;

export interface ProtectRequest {
  readonly client: RegistryClient;
  readonly repository: string;
  readonly needed: ReadonlyMap<Digest, Need>;
  readonly scope: Scope;
  /** Release digests that carry evidence now. */
  readonly evidenced: ReadonlySet<Digest>;
  /** ACR's listing of the repository, when the evidence was found through it: the attributes, without a request each. */
  readonly listing?: readonly ListedManifest[];
  readonly stamp: { readonly at: string; readonly run: string | null };
  readonly warning: (message: string) => void;
}

export interface ProtectOutcome {
  /** Needed manifests this run set deleteEnabled=false on. */
  readonly protectedNow: readonly Digest[];
  /** Needed manifests that were protected already, and by whom. */
  readonly already: readonly { readonly digest: Digest; readonly holder: Holder }[];
  /** Needed manifests the repository does not have. */
  readonly missing: readonly Digest[];
  /** Manifests this task protected before that it set deleteEnabled=true on again. */
  readonly released: readonly Digest[];
  /** Manifests this task protected that no kept release here needs, left protected, and why. */
  readonly held: readonly { readonly digest: Digest; readonly why: string }[];
  /** Manifests dropped from the record without a change, and why. */
  readonly forgotten: readonly { readonly digest: Digest; readonly why: string }[];
  /** The record manifest, `registry/repository@digest`, after the run; undefined when there is none. */
  readonly record: string | undefined;
}

export async function protectKept(request: ProtectRequest): Promise<ProtectOutcome> {
  const { client, repository } = request;
  const name = `${client.registry}/${repository}`;
  const read = await readRecord(client, repository);
  if (read.ignored) request.warning(read.ignored);
  const original = read.record;

  const attributes = await attributesOf(
    client,
    repository,
    [...new Set([...request.needed.keys(), ...original.manifests.map((m) => m.digest)])],
    request.listing,
  );
  const missing = [...request.needed.keys()].filter((digest) => !attributes.has(digest));
  const plan = planProtect(request.needed, attributes, original);

  const failures: string[] = [];
  const protectedNow: { digest: Digest; writeEnabled: boolean }[] = [];
  await runPool(plan.protect, CONCURRENCY, async (item) => {
    const outcome = await setDeleteEnabled(client, repository, item.digest, false);
    if (outcome === undefined) protectedNow.push(item);
    else failures.push(outcome);
  });

  let recordDigest = read.digest;
  const afterProtect = recordAfterProtect(original, request.needed, protectedNow, request.scope, request.stamp);
  if (changed(original, afterProtect) || read.ignored)
    recordDigest = await write(client, repository, afterProtect, request.stamp);
  if (failures.length > 0) throw notApplied(name, 'protect', failures);

  const verdicts = planRelease(afterProtect, request.needed, attributes, request.evidenced);
  const released: Digest[] = [];
  const releaseFailures: string[] = [];
  await runPool(
    verdicts.filter((v) => v.action === 'release'),
    CONCURRENCY,
    async ({ digest }) => {
      const outcome = await setDeleteEnabled(client, repository, digest, true);
      if (outcome === undefined) released.push(digest);
      else releaseFailures.push(outcome);
    },
  );
  const forgotten = verdicts.flatMap((v) => (v.action === 'forget' ? [{ digest: v.digest, why: v.why }] : []));
  const done = new Set([...released, ...forgotten.map((f) => f.digest)]);
  const afterRelease = recordAfterRelease(afterProtect, done);
  if (changed(afterProtect, afterRelease)) recordDigest = await write(client, repository, afterRelease, request.stamp);
  if (releaseFailures.length > 0) throw notApplied(name, 'release', releaseFailures);

  return {
    protectedNow: protectedNow.map((p) => p.digest).sort(),
    already: [...plan.already].sort((a, b) => (a.digest < b.digest ? -1 : 1)),
    missing,
    released: released.sort(),
    held: verdicts.flatMap((v) => (v.action === 'keep' ? [{ digest: v.digest, why: v.why }] : [])),
    forgotten,
    record: recordDigest === undefined ? undefined : `${name}@${recordDigest}`,
  };
}

/** The registry's attributes of each digest it has; a digest it does not have is left out. */
async function attributesOf(
  client: RegistryClient,
  repository: string,
  digests: readonly Digest[],
  listing: readonly ListedManifest[] | undefined,
): Promise<Map<Digest, ChangeableAttributes>> {
  const out = new Map<Digest, ChangeableAttributes>();
  if (listing !== undefined) {
    const listed = new Map(listing.map((m) => [m.digest, m.attributes]));
    for (const digest of digests) {
      const attributes = listed.get(digest);
      if (attributes) out.set(digest, attributes);
    }
    return out;
  }
  await runPool(digests, CONCURRENCY, async (digest) => {
    try {
      out.set(digest, (await getManifestProperties(client, repository, digest)).attributes);
    } catch (err) {
      if (!isDigestReleaseError(err, 'MANIFEST_UNKNOWN')) throw err;
    }
  });
  return out;
}

/** Sets deleteEnabled (only) and reads it back; undefined when it took, else what went wrong. */
async function setDeleteEnabled(
  client: RegistryClient,
  repository: string,
  digest: Digest,
  deleteEnabled: boolean,
): Promise<string | undefined> {
  try {
    await updateManifestProperties(client, repository, digest, { deleteEnabled });
    const back = await getManifestProperties(client, repository, digest);
    if (back.attributes.deleteEnabled === deleteEnabled) return undefined;
    return `${digest} reads back deleteEnabled=${back.attributes.deleteEnabled} (writeEnabled=${back.attributes.writeEnabled})`;
  } catch (err) {
    return `${digest}: ${messageOf(err)}`;
  }
}

async function write(
  client: RegistryClient,
  repository: string,
  record: ProtectionRecord,
  stamp: { at: string; run: string | null },
): Promise<Digest> {
  const digest = await writeRecord(client, repository, record, { writtenAt: stamp.at, run: stamp.run });
  const now = await client.headManifest(repository, RECORD_TAG);
  if (now?.digest !== digest) {
    throw new DigestReleaseError(
      'RECORD_INVALID',
      `DigestRetain's record ${client.registry}/${repository}:${RECORD_TAG} was moved to ${now?.digest ?? 'nothing'} by someone else while this run wrote ${digest}: another retention run works on this repository at the same time. ` +
        'Run this step again, and let one retention run at a time work on a repository (templates/retention.yml runs its steps one after another).',
    );
  }
  return digest;
}

function changed(a: ProtectionRecord, b: ProtectionRecord): boolean {
  const text = (r: ProtectionRecord): string =>
    JSON.stringify(
      [...r.manifests]
        .sort((x, y) => (x.digest < y.digest ? -1 : 1))
        .map((m) => [
          m.digest,
          m.protectedAt,
          m.protectedBy,
          m.writeEnabled,
          [...m.claims].sort(),
          [...m.releases].sort(),
        ]),
    );
  return text(a) !== text(b);
}

function notApplied(name: string, what: 'protect' | 'release', failures: readonly string[]): DigestReleaseError {
  const asked = what === 'protect' ? 'deleteEnabled=false (protect)' : 'deleteEnabled=true (release)';
  const message =
    `Setting ${asked} on ${failures.length} manifest${failures.length === 1 ? '' : 's'} of ${name} did not take: ${failures.join('; ')}. ` +
    'What did take is recorded. Check that the identity may write repository metadata (metadata/write) and that nothing else (a policy, another pipeline) changes these attributes; then run again.' +
    (what === 'protect' ? ' Do not run a clean-up of this repository until protect succeeds.' : '');
  return new DigestReleaseError('LOCK_NOT_APPLIED', message);
}
