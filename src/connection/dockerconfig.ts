import { homedir } from 'node:os';
import { join } from 'node:path';
import { DigestReleaseError } from '../errors';
import { isMissingFile, readLocalFile } from '../files/read';
import { isRecord } from '../json';
import { dockerHubAlias } from '../reference/reference';
import type { RegistryCredential } from '../registry/sign-in';
import { ANONYMOUS } from '../registry/sign-in';

// Credentials from the docker config.json that `docker login` (and Docker@2 with command: login,
// which also sets DOCKER_CONFIG for later steps) leaves behind. Credential helpers are programs;
// this task runs none, and says so when a helper is all the file has for the registry.

export interface DockerConfigLookup {
  readonly credential: RegistryCredential;
  /** Things a user should know, such as a credential helper that was not used. */
  readonly notes: readonly string[];
}

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.DOCKER_CONFIG && env.DOCKER_CONFIG.trim() !== '' ? env.DOCKER_CONFIG : join(homedir(), '.docker');
  return join(dir, 'config.json');
}

/** The registry host a config.json `auths` key stands for: keys may carry a scheme and a path. */
export function normaliseAuthKey(key: string): string {
  let host = key.trim().replace(/^[a-z]+:\/\//i, '');
  const slash = host.indexOf('/');
  if (slash >= 0) host = host.slice(0, slash);
  return dockerHubAlias(host);
}

type Json = Record<string, unknown>;

/** The most a docker config may hold: `docker login` writes a few hundred bytes a registry. */
const DOCKER_CONFIG_LIMIT = 4 * 1024 * 1024;

export function credentialFromDockerConfig(registry: string, path = dockerConfigPath()): DockerConfigLookup {
  let text: string;
  try {
    text = readLocalFile(path, {
      what: `The docker config ${path}`,
      limit: DOCKER_CONFIG_LIMIT,
      kind: 'a docker config',
      code: 'CREDENTIALS',
      fix: 'Fix or remove it (DOCKER_CONFIG names its folder), or set connectionType to dockerRegistry or anonymous.',
    }).toString('utf8');
  } catch (err) {
    if (isMissingFile(err))
      return { credential: { kind: 'anonymous', source: `anonymous access (no docker config at ${path})` }, notes: [] };
    throw err;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new DigestReleaseError(
      'CREDENTIALS',
      `The docker config ${path} is not valid JSON. Fix or remove it, or set connectionType to dockerRegistry or anonymous.`,
    );
  }
  if (!isRecord(doc)) throw new DigestReleaseError('CREDENTIALS', `The docker config ${path} is not a JSON object.`);
  const host = registry.toLowerCase();
  const source = `docker config ${path}`;
  const auths = isRecord(doc.auths) ? doc.auths : {};
  for (const [key, entry] of Object.entries(auths)) {
    if (normaliseAuthKey(key) !== host || !isRecord(entry)) continue;
    const credential = credentialFromEntry(entry, `${source} (auths "${key}")`);
    if (credential) return { credential, notes: [] };
  }
  const notes: string[] = [];
  const helpers = isRecord(doc.credHelpers) ? doc.credHelpers : {};
  const helper = Object.entries(helpers).find(([key]) => normaliseAuthKey(key) === host)?.[1] ?? doc.credsStore;
  if (typeof helper === 'string' && helper !== '') {
    notes.push(
      `The docker config ${path} keeps the credentials for ${registry} in the credential helper docker-credential-${helper}, which this task does not run; ` +
        'continuing without credentials. Use a Docker Registry service connection (connectionType: dockerRegistry) to sign in.',
    );
  }
  return { credential: { ...ANONYMOUS, source: `anonymous access (no entry for ${registry} in ${path})` }, notes };
}

function credentialFromEntry(entry: Json, source: string): RegistryCredential | undefined {
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') {
    return { kind: 'refreshToken', refreshToken: entry.identitytoken, source };
  }
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) {
      throw new DigestReleaseError(
        'CREDENTIALS',
        `The "auth" value in ${source} is not base64 of "user:password". Run docker login again.`,
      );
    }
    return { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1), source };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string' && entry.username !== '') {
    return { kind: 'basic', username: entry.username, password: entry.password, source };
  }
  return undefined;
}
