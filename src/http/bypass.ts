import { isIP } from 'node:net';

// Which URLs go straight to their host instead of through the agent's proxy. The rules are the
// agent's own for its traffic (azure-pipelines-agent, Agent.Sdk/AgentWebProxy.cs, IsBypassed and
// IsMatchInBypassList): a loopback host always; else a URL whose `scheme://host` (with `:port` only
// when it is not the scheme's default) matches one of the bypass list's regular expressions,
// anywhere and ignoring case. An entry that is not a valid expression is skipped, as the agent
// skips it; we also say so. task-lib's getHttpProxyConfiguration(url) tests the same expressions
// against the whole URL instead; we keep the agent's form, for which the list is written (its
// .proxybypass file and the no_proxy entries it converts), so a path that happens to contain a
// listed name does not bypass the proxy.
//
// One rule of our own: link-local addresses (169.254.0.0/16, fe80::/10), such as the Azure instance
// metadata service that managed identity asks for tokens, are never sent to the proxy. They exist
// only on the agent's own network link, and a proxy that answered for them would answer with its
// own host's identity.

export interface BypassList {
  readonly patterns: readonly RegExp[];
  /** Entries that are not regular expressions (or not strings), skipped. */
  readonly invalid: readonly string[];
}

/** Compiles the agent's bypass list (already parsed from its JSON): blank entries are skipped, each entry trimmed. */
export function compileBypassList(entries: readonly unknown[]): BypassList {
  const patterns: RegExp[] = [];
  const invalid: string[] = [];
  for (const entry of entries) {
    if (typeof entry !== 'string') {
      invalid.push(JSON.stringify(entry));
      continue;
    }
    const source = entry.trim();
    if (source === '') continue;
    try {
      patterns.push(new RegExp(source, 'i'));
    } catch {
      invalid.push(source);
    }
  }
  return { patterns, invalid };
}

/** The form the agent matches bypass expressions against: `https://host` or `https://host:8443`. */
export function bypassSubject(url: URL): string {
  const scheme = url.protocol.replace(/:$/, '');
  return url.port === '' ? `${scheme}://${url.hostname}` : `${scheme}://${url.hostname}:${url.port}`;
}

/** True when a request to `url` must not go through the proxy. */
export function bypassesProxy(url: URL, patterns: readonly RegExp[]): boolean {
  if (isLoopbackHost(url.hostname) || isLinkLocalHost(url.hostname)) return true;
  const subject = bypassSubject(url);
  return patterns.some((pattern) => pattern.test(subject));
}

/** `localhost`, 127.0.0.0/8 and ::1 (also IPv4-mapped), as .NET's Uri.IsLoopback decides: by the name, never by resolving it. `hostname` as URL gives it. */
export function isLoopbackHost(hostname: string): boolean {
  const host = unbracket(hostname).toLowerCase();
  if (host === 'localhost') return true;
  const v4 = ipv4Of(host);
  if (v4 !== undefined) return v4[0] === 127;
  // URL keeps IPv6 addresses compressed: 0:0:0:0:0:0:0:1 is ::1.
  return host === '::1';
}

/** 169.254.0.0/16 and fe80::/10 (also IPv4-mapped). */
export function isLinkLocalHost(hostname: string): boolean {
  const host = unbracket(hostname).toLowerCase();
  const v4 = ipv4Of(host);
  if (v4 !== undefined) return v4[0] === 169 && v4[1] === 254;
  return isIP(host) === 6 && /^fe[89ab][0-9a-f]:/.test(host);
}

function unbracket(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/** The four octets of an IPv4 address, or of an IPv4-mapped IPv6 one (::ffff:a.b.c.d, ::ffff:7f00:1). */
function ipv4Of(host: string): number[] | undefined {
  if (isIP(host) === 4) return host.split('.').map(Number);
  const mapped = /^::ffff:(.+)$/.exec(host)?.[1];
  if (mapped === undefined) return undefined;
  if (isIP(mapped) === 4) return mapped.split('.').map(Number);
  const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(mapped);
  if (!hex) return undefined;
  const high = parseInt(hex[1]!, 16);
  const low = parseInt(hex[2]!, 16);
  return [high >> 8, high & 0xff, low >> 8, low & 0xff];
}
