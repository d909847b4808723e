import { DigestReleaseError } from '../errors';
import type { ImageReference } from '../reference/reference';
import { registryHost } from '../reference/reference';

// The `allowedRegistries` input: which registries (and optionally which repository paths in them)
// images may come from. `myacr.azurecr.io`, `myacr.azurecr.io/team`, `*.azurecr.io`, `docker.io/library`.

export interface RegistryRule {
  readonly text: string;
  /** Lowercase host with port; `*.example.com` matches any subdomain of example.com (not example.com itself). */
  readonly host: string;
  /** Repository path prefix, matched at component boundaries; empty for the whole registry. */
  readonly path: string;
}

const INPUT = 'allowedRegistries';
const HOST_RE = /^(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[0-9]+)?$/;
const PATH_RE = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*$/;

function invalid(line: string, fix: string): DigestReleaseError {
  return new DigestReleaseError('INVALID_INPUT', `The input ${INPUT} has the line "${line}": ${fix}`);
}

export function parseRegistryRule(line: string): RegistryRule {
  if (line.includes('://'))
    throw invalid(
      line,
      `write the registry host without a scheme, for example ${line.slice(line.indexOf('://') + 3)}.`,
    );
  const text = line.replace(/\/+$/, '');
  const slash = text.indexOf('/');
  const host = registryHost(slash < 0 ? text : text.slice(0, slash));
  const path = slash < 0 ? '' : text.slice(slash + 1);
  if (!HOST_RE.test(host)) {
    throw invalid(
      line,
      'it is not a registry host with an optional port and repository path. Write for example myacr.azurecr.io, *.azurecr.io, localhost:5000 or docker.io/library.',
    );
  }
  if (path !== '' && !PATH_RE.test(path)) {
    throw invalid(
      line,
      `the repository path "${path}" may hold only lowercase letters, digits, "/" and the separators ".", "_", "-". Write for example myacr.azurecr.io/team.`,
    );
  }
  return { text: line, host, path };
}

export function parseRegistryRules(lines: readonly string[]): RegistryRule[] {
  return lines.map(parseRegistryRule);
}

export function ruleAllows(rule: RegistryRule, ref: ImageReference): boolean {
  // Both hosts are kept as registryHost keeps them (parseReference applies it to every reference).
  const host = ref.registry;
  const hostMatches = rule.host.startsWith('*.') ? host.endsWith(rule.host.slice(1)) : host === rule.host;
  if (!hostMatches) return false;
  return rule.path === '' || ref.repository === rule.path || ref.repository.startsWith(`${rule.path}/`);
}

/** True when there are no rules (everything is allowed) or one rule allows the reference. */
export function isAllowed(rules: readonly RegistryRule[], ref: ImageReference): boolean {
  return rules.length === 0 || rules.some((rule) => ruleAllows(rule, ref));
}
