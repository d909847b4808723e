import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import { DigestReleaseError, messageOf } from '../errors';

// The certificate authorities a TLS connection trusts when the agent names a CA file
// (Agent.CAInfo, from ./config.sh --sslcacert): the ones Node trusts anyway, and the file's. A `ca`
// option would replace Node's store, NODE_EXTRA_CA_CERTS included, and handing Node its ~140
// bundled roots again as PEM cost 20-90 ms on the agent's Node 20 (measured on the test machine).
// So the file's authorities are added to a context that starts from Node's own store
// (SecureContext.addCACert, as Node's tls module adds CAs itself: a few ms), the NODE_EXTRA_CA_CERTS
// ones with them, since Node 20 builds that context's store from its bundled roots alone (Node 24
// includes them already; adding one twice is harmless).

const CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

interface NativeContext {
  addCACert?(pem: string): void;
}

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
    throw new DigestReleaseError(
      'NETWORK_SETTINGS',
      `The agent's CA file (Agent.CAInfo) "${caFile}" holds no PEM certificate (-----BEGIN CERTIFICATE-----). Configure the agent with the CA's certificate in PEM form (./config.sh --sslcacert).`,
    );
  }
  for (const [index, pem] of own.entries()) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new DigestReleaseError(
        'NETWORK_SETTINGS',
        `The agent's CA file (Agent.CAInfo) "${caFile}" holds a certificate (the ${ordinal(index + 1)}) that cannot be read (${messageOf(err)}).`,
        { cause: err },
      );
    }
  }
  const authorities = [...extraAuthorities(env), ...own];
  const context = tls.createSecureContext();
  const native = (context as unknown as { context?: NativeContext }).context;
  if (typeof native?.addCACert !== 'function') {
    // Should a Node ever lack it: the documented way, at its cost.
    return tls.createSecureContext({ ca: [...tls.rootCertificates, ...authorities] });
  }
  for (const pem of authorities) native.addCACert(pem);
  return context;
}

/** The certificates of NODE_EXTRA_CA_CERTS, read as Node reads them at start-up; none when unreadable (Node warned then). */
function extraAuthorities(env: NodeJS.ProcessEnv): string[] {
  const extraFile = env.NODE_EXTRA_CA_CERTS;
  if (!extraFile) return [];
  try {
    return readFileSync(extraFile, 'utf8').match(CERTIFICATE) ?? [];
  } catch {
    return [];
  }
}

function ordinal(n: number): string {
  return n === 1 ? 'first' : n === 2 ? 'second' : n === 3 ? 'third' : `${n}th`;
}
