import { DigestReleaseError } from '../errors';
import type { Digest } from './digest';
import { parseDigest } from './digest';

// Image references as the distribution project defines them (reference/regexp.go and
// reference/normalize.go), written for this project:
//
//   reference := name [ ":" tag ] [ "@" digest ]
//   name      := [ domain "/" ] path-component [ "/" path-component ]*
//   domain    := host [ ":" port ]
//   tag       := [\w][\w.-]{0,127}
//
// and normalised the way `docker pull` does: no domain means docker.io, and a single path component
// on docker.io means library/<name>. The host is kept in lower case (registryHost).

// Docker Hub and the names it goes by, in one place. A reference may name it by its legacy index
// name, which docker's grammar reads as docker.io; its API answers on another host; and `docker
// login` keys its credentials in config.json under any of these names.
export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';
const LEGACY_DOCKER_HUB = 'index.docker.io';
const DOCKER_HUB_NAMES = [LEGACY_DOCKER_HUB, DOCKER_HUB_API, 'registry.hub.docker.com'];
const MAX_NAME_LENGTH = 255;

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const HOST = `(?:${DOMAIN_NAME}|${IPV6})`;
const DOMAIN_RE = new RegExp(`^${HOST}(?::[0-9]+)?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const HEX64_RE = /^[a-f0-9]{64}$/;

/**
 * A parsed, normalised image reference. It keeps the tag and the digest together, so evidence can
 * say "tag 1.4.2 resolved to sha256:...".
 */
export interface ImageReference {
  /**
   * Registry host in lower case (host names are not case-sensitive), with the port as written:
   * `docker.io`, `myacr.azurecr.io`, `localhost:5000`. `MyAcr.AzureCR.io` is read as `myacr.azurecr.io`.
   */
  readonly registry: string;
  /** Repository path inside the registry: `library/nginx`, `team/app`. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

function invalid(input: string, why: string, what: string): DigestReleaseError {
  return new DigestReleaseError('INVALID_REFERENCE', `The ${what} "${input}" is not a valid image reference: ${why}.`);
}

/**
 * Parses and normalises an image reference. `what` names where the value came from (an input name)
 * so the error can say so.
 */
export function parseReference(value: string, what = 'image reference'): ImageReference {
  const input = value.trim();
  if (input === '') throw invalid(value, 'it is empty', what);
  if (/\s/.test(input)) throw invalid(value, 'it contains white space', what);
  if (input.includes('://')) {
    throw invalid(value, 'a reference has no scheme; write "host/repository:tag" without "https://"', what);
  }

  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const digestText = rest.slice(at + 1);
    try {
      digest = parseDigest(digestText, 'digest');
    } catch {
      throw invalid(
        value,
        `the digest part "${digestText}" is not "sha256:" followed by 64 lowercase hex characters`,
        what,
      );
    }
    rest = rest.slice(0, at);
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG_RE.test(tag)) {
      const why =
        tag.length > 128
          ? `the tag has ${tag.length} characters; at most 128 are allowed`
          : `the tag "${tag}" may hold only letters, digits, "_", "." and "-", and may not start with "." or "-"`;
      throw invalid(value, why, what);
    }
  }
  if (rest === '') throw invalid(value, 'the repository name is missing', what);

  const { registry, path } = splitRegistry(rest, value, what);
  const components = path.split('/');
  for (const component of components) {
    if (component === '')
      throw invalid(value, 'the repository path has an empty component ("//" or a trailing "/")', what);
    if (!PATH_COMPONENT_RE.test(component)) {
      const why =
        component.toLowerCase() !== component && PATH_COMPONENT_RE.test(component.toLowerCase())
          ? `the repository name must be lowercase ("${component}")`
          : `the repository path component "${component}" may hold only lowercase letters, digits and the separators ".", "_", "__" and "-" between them`;
      throw invalid(value, why, what);
    }
  }
  if (registry === DOCKER_HUB && components.length === 1 && HEX64_RE.test(path)) {
    throw invalid(value, 'a 64-character hex string is an image ID, not a repository name', what);
  }
  const repository = registry === DOCKER_HUB && components.length === 1 ? `library/${path}` : path;
  const name = `${registry}/${repository}`;
  if (name.length > MAX_NAME_LENGTH) {
    throw invalid(value, `the name has ${name.length} characters; at most ${MAX_NAME_LENGTH} are allowed`, what);
  }
  return { registry, repository, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

function splitRegistry(name: string, input: string, what: string): { registry: string; path: string } {
  const slash = name.indexOf('/');
  if (slash < 0) return { registry: DOCKER_HUB, path: name };
  const first = name.slice(0, slash);
  // The first component is a registry when it looks like a host: it has a dot or a port, is
  // localhost, or has capitals (repository paths may not). Otherwise the name is on Docker Hub.
  const isRegistry =
    first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first;
  if (!isRegistry) return { registry: DOCKER_HUB, path: name };
  if (!DOMAIN_RE.test(first))
    throw invalid(input, `the registry "${first}" is not a valid host name with an optional port`, what);
  return { registry: registryHost(first), path: name.slice(slash + 1) };
}

/**
 * A registry host as references keep it: in lower case, the port kept, and Docker Hub's legacy
 * name `index.docker.io` as `docker.io`. parseReference applies it to every reference; rules that
 * name registries (allowedRegistries) apply it to compare.
 */
export function registryHost(host: string): string {
  const lower = host.toLowerCase();
  return lower === LEGACY_DOCKER_HUB ? DOCKER_HUB : lower;
}

/** `docker.io` for any name Docker Hub goes by (docker config.json keys use all of them); else the host in lower case. */
export function dockerHubAlias(host: string): string {
  const lower = host.toLowerCase();
  return DOCKER_HUB_NAMES.includes(lower) ? DOCKER_HUB : lower;
}

/** A tag as the distribution grammar allows it: 1 to 128 of letters, digits, `_`, `.`, `-`, not starting with `.` or `-`. */
export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** `registry/repository`, the name a digest lives under. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The full reference as written back: `registry/repository[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  return `${repositoryName(ref)}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}

/** `registry/repository@sha256:...`: what pins a deployment. */
export function digestReference(ref: ImageReference, digest: Digest): string {
  return `${repositoryName(ref)}@${digest}`;
}

/** The host the registry API answers on; Docker Hub's API is not on docker.io itself. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** The tag `docker pull` uses when a reference names none. */
export const DEFAULT_TAG = 'latest';

/** The tag a reference names, or the default tag when it names none. */
export function tagOrDefault(ref: ImageReference): string {
  return ref.tag ?? DEFAULT_TAG;
}

/** The reference as `docker pull` reads it: with neither tag nor digest it means the default tag. */
export function withDefaultTag(ref: ImageReference): ImageReference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}
