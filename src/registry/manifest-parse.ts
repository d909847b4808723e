import { DigestReleaseError } from '../errors';
import { isRecord } from '../json';
import type { Digest } from '../reference/digest';
import { isDigest } from '../reference/digest';

// Manifest media types we read, and the Accept header that asks for all of them. Docker schema 1 is
// deliberately absent: its digest is not the hash of the bytes a client sees, so it cannot be pinned.

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+json';
export const DOCKER_SCHEMA1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

export const MANIFEST_MEDIA_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST] as const;
export type ManifestMediaType = (typeof MANIFEST_MEDIA_TYPES)[number];

export const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST;
}

export function isSchema1MediaType(mediaType: string): boolean {
  return mediaType === DOCKER_SCHEMA1 || mediaType === DOCKER_SCHEMA1_SIGNED;
}

export function isManifestMediaType(mediaType: string): mediaType is ManifestMediaType {
  return (MANIFEST_MEDIA_TYPES as readonly string[]).includes(mediaType);
}

// Manifests parsed from bytes into checked, typed records. Nothing here trusts a cast: every field
// used later is checked for its type, and a malformed manifest is an error that says where it came from.

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
  readonly osVersion?: string;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly platform?: Platform;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ImageManifest {
  readonly kind: 'image';
  readonly mediaType: ManifestMediaType;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly artifactType?: string;
}

export interface IndexManifest {
  readonly kind: 'index';
  readonly mediaType: ManifestMediaType;
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
}

export type Manifest = ImageManifest | IndexManifest;

type Json = Record<string, unknown>;

function malformed(where: string, why: string): DigestReleaseError {
  return new DigestReleaseError('REGISTRY_ERROR', `The manifest of ${where} is malformed: ${why}.`);
}

function optionalString(obj: Json, key: string, where: string): string | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw malformed(where, `"${key}" is not a string`);
  return value;
}

function parsePlatform(value: unknown, where: string): Platform | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value) || typeof value.os !== 'string' || typeof value.architecture !== 'string') {
    throw malformed(where, 'a platform lacks "os" or "architecture"');
  }
  const variant = optionalString(value, 'variant', where);
  const osVersion = optionalString(value, 'os.version', where);
  return {
    os: value.os,
    architecture: value.architecture,
    ...(variant ? { variant } : {}),
    ...(osVersion ? { osVersion } : {}),
  };
}

function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isRecord(value)) throw malformed(where, 'a descriptor is not an object');
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string') throw malformed(where, 'a descriptor has no "mediaType"');
  if (typeof digest !== 'string' || !isDigest(digest)) {
    throw malformed(where, `a descriptor's digest "${String(digest)}" is not sha256 with 64 lowercase hex characters`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    throw malformed(where, `the size of ${digest} is not a whole number`);
  const platform = parsePlatform(value.platform, where);
  const artifactType = optionalString(value, 'artifactType', where);
  let annotations: Record<string, string> | undefined;
  if (value.annotations !== undefined) {
    if (!isRecord(value.annotations)) throw malformed(where, `the annotations of ${digest} are not an object`);
    annotations = {};
    for (const [k, v] of Object.entries(value.annotations)) {
      if (typeof v !== 'string') throw malformed(where, `the annotation "${k}" of ${digest} is not a string`);
      annotations[k] = v;
    }
  }
  return {
    mediaType,
    digest,
    size,
    ...(platform ? { platform } : {}),
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(annotations ? { annotations } : {}),
  };
}

function descriptorList(value: unknown, key: string, where: string): Descriptor[] {
  if (!Array.isArray(value)) throw malformed(where, `"${key}" is not a list`);
  return value.map((item) => parseDescriptor(item, where));
}

/**
 * Parses manifest bytes. `contentType` is the media type the registry sent; the manifest's own
 * `mediaType` field wins where both are present, since it is part of the hashed bytes.
 */
export function parseManifest(bytes: Uint8Array, contentType: string, where: string): Manifest {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw malformed(where, 'it is not JSON');
  }
  if (!isRecord(doc)) throw malformed(where, 'it is not a JSON object');
  if (doc.schemaVersion === 1 || isSchema1MediaType(contentType)) {
    throw new DigestReleaseError(
      'UNSUPPORTED_MEDIA_TYPE',
      `The registry serves ${where} as a Docker schema 1 manifest, which is deprecated and has no stable digest to pin. ` +
        'Push the image again with a current client (docker, buildx, skopeo) so the registry stores a schema 2 or OCI manifest.',
    );
  }
  if (doc.schemaVersion !== 2) throw malformed(where, `"schemaVersion" is ${JSON.stringify(doc.schemaVersion)}, not 2`);

  const declared = optionalString(doc, 'mediaType', where);
  const mediaType =
    declared ?? (contentType !== '' ? contentType : Array.isArray(doc.manifests) ? OCI_INDEX : OCI_MANIFEST);
  if (!isManifestMediaType(mediaType)) {
    throw new DigestReleaseError(
      'UNSUPPORTED_MEDIA_TYPE',
      `The registry serves ${where} with media type "${mediaType}", which is not an image manifest or index ` +
        `(expected one of ${MANIFEST_ACCEPT}).`,
    );
  }
  const subject = doc.subject === undefined ? undefined : parseDescriptor(doc.subject, where);
  if (isIndexMediaType(mediaType)) {
    return {
      kind: 'index',
      mediaType,
      manifests: descriptorList(doc.manifests, 'manifests', where),
      ...(subject ? { subject } : {}),
    };
  }
  const artifactType = optionalString(doc, 'artifactType', where);
  return {
    kind: 'image',
    mediaType,
    config: parseDescriptor(doc.config, where),
    layers: descriptorList(doc.layers, 'layers', where),
    ...(subject ? { subject } : {}),
    ...(artifactType !== undefined ? { artifactType } : {}),
  };
}

/** `os/architecture[/variant]`, the key users write in `--platform`. */
export function platformKey(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter((part) => part).join('/');
}

/**
 * The runnable platforms of an index and the digest of each. Attestation manifests that buildx
 * adds (platform unknown/unknown) are not platforms and are left out. Two entries for one platform
 * (Windows images per OS version) are told apart by their OS version.
 */
export function platformDigests(index: IndexManifest): Record<string, Digest> {
  const result: Record<string, Digest> = {};
  for (const child of index.manifests) {
    if (!child.platform) continue;
    if (child.platform.os === 'unknown' && child.platform.architecture === 'unknown') continue;
    if (child.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') continue;
    let key = platformKey(child.platform);
    if (key in result && child.platform.osVersion) key = `${key}:${child.platform.osVersion}`;
    if (key in result) continue;
    result[key] = child.digest;
  }
  return result;
}
