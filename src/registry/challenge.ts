// Parses a WWW-Authenticate header (RFC 7235) into its scheme and parameters. Registries send one
// challenge; a header with several is read up to the first scheme we can answer.

export interface Challenge {
  readonly scheme: 'bearer' | 'basic';
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  let rest = header.trim();
  while (rest !== '') {
    rest = rest.replace(/^[\s,]+/, '');
    const schemeMatch = TOKEN.exec(rest);
    if (!schemeMatch) return undefined;
    const scheme = schemeMatch[0].toLowerCase();
    rest = rest.slice(schemeMatch[0].length).trimStart();
    const params: Record<string, string> = {};
    // auth-param = token BWS "=" BWS ( token / quoted-string ), separated by commas
    for (;;) {
      const nameMatch = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*/.exec(rest);
      if (!nameMatch) break;
      rest = rest.slice(nameMatch[0].length);
      let value: string;
      if (rest.startsWith('"')) {
        let i = 1;
        value = '';
        while (i < rest.length && rest[i] !== '"') {
          if (rest[i] === '\\' && i + 1 < rest.length) i++;
          value += rest[i];
          i++;
        }
        rest = rest.slice(i + 1);
      } else {
        const valueMatch = /^[^,\s]*/.exec(rest)!;
        value = valueMatch[0];
        rest = rest.slice(value.length);
      }
      params[nameMatch[1]!.toLowerCase()] = value;
      rest = rest.trimStart();
      if (!rest.startsWith(',')) break;
      rest = rest.slice(1).trimStart();
    }
    if (scheme === 'bearer' || scheme === 'basic') return { scheme, params };
  }
  return undefined;
}
