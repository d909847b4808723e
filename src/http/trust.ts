import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import { DigestReleaseError, messageOf } from '../errors';

// The certificate authorities a TLS connection trusts when the agent names a CA file
// (Agent.CAInfo, from ./config.sh --sslcacert): the ones Node trusts anyway, and the file's. Giving
// Node a `ca` list replaces its own store, NODE_EXTRA_CA_CERTS included, so the list is built
// here: Node 22.15 and later tell their default store (tls.getCACertificates), Node 20 has its
// bundled roots, and the NODE_EXTRA_CA_CERTS file is read as Node itself reads it at start-up.

const CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function caInfoContext(caFile: string, env: NodeJS.ProcessEnv = process.env): tls.SecureContext {
  let text: string;
  try {
    text = readFileSync(caFile, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new DigestReleaseError(
      'NETWORK_SETTINGS',
      `The agent's CA file (Agent.CAInfo) "${caFile}" could not be read (${typeof code === 'string' ? code : messageOf(err)}). ` +
        "It is set when the agent is configured (./config.sh --sslcacert); check that the file exists on the agent and that the agent's user may read it.",
      { cause: err },
    );
  }
  const own = text.match(CERTIFICATE) ?? [];
  if (own.length === 0) {
    throw new DigestReleaseError('NETWORK_SETTINGS', `The agent's CA file (Agent.CAInfo) "${caFile}" holds no PEM certificate (-----BEGIN CERTIFICATE-----). Configure the agent with the CA's certificate in PEM form (./config.sh --sslcacert).`);
  }
  try {
    return tls.createSecureContext({ ca: [...nodeDefaultAuthorities(env), ...own] });
  } catch (err) {
    throw new DigestReleaseError('NETWORK_SETTINGS', `The agent's CA file (Agent.CAInfo) "${caFile}" holds a certificate that cannot be used (${messageOf(err)}).`, { cause: err });
  }
}

/** What Node trusts without a `ca` option. */
function nodeDefaultAuthorities(env: NodeJS.ProcessEnv): string[] {
  const getCACertificates = (tls as { getCACertificates?: (type?: string) => string[] }).getCACertificates;
  if (typeof getCACertificates === 'function') return getCACertificates('default');
  const extra: string[] = [];
  const extraFile = env.NODE_EXTRA_CA_CERTS;
  if (extraFile) {
    try {
      extra.push(...(readFileSync(extraFile, 'utf8').match(CERTIFICATE) ?? []));
    } catch {
      // Node warned about this file at start-up and went on without it; so do we.
    }
  }
  return [...tls.rootCertificates, ...extra];
}
