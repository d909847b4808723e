import type * as Semver from 'semver';

// Which tags a promotion writes. The tags asked for (the target's tag and additionalTags) are
// written as given. With semverTags, each of them that is a release version (1.4.2, or v1.4.2)
// also yields its minor and major tags (1.4 and 1), each only when this version is the highest
// release in that line among the target's tags, as docker/metadata-action does; a 0.x version
// yields no major tag, and a pre-release yields neither.

export interface TagPlan {
  /** Tags asked for by name: they never move other bytes unless overwriteTags. */
  readonly explicit: readonly string[];
  /** Minor and major tags derived from versions: they float to the highest release by design. */
  readonly floating: readonly string[];
  /** Derived tags not written, and why, for the log. */
  readonly notes: readonly string[];
}

interface Version {
  readonly prefix: string;
  readonly version: Semver.SemVer;
}

/** semver compiles its regular expressions when it loads (about 4 ms of a task's start-up), so it
 * loads only when semverTags asks for it. */
function semverLib(): typeof Semver {
  return require('semver');
}

function asVersion(tag: string): Version | undefined {
  const prefix = tag.startsWith('v') ? 'v' : '';
  const parsed = semverLib().parse(tag.slice(prefix.length));
  return parsed ? { prefix, version: parsed } : undefined;
}

export function planTags(explicit: readonly string[], semverTags: boolean, existing: readonly string[]): TagPlan {
  const unique = [...new Set(explicit)];
  if (!semverTags) return { explicit: unique, floating: [], notes: [] };
  const floating: string[] = [];
  const notes: string[] = [];
  const releases = [...existing, ...unique]
    .map(asVersion)
    .filter((v): v is Version => v !== undefined && v.version.prerelease.length === 0);
  for (const tag of unique) {
    const own = asVersion(tag);
    if (!own) continue;
    const { prefix, version } = own;
    if (version.prerelease.length > 0) {
      notes.push(`${tag} is a pre-release: no minor or major tag is derived from it.`);
      continue;
    }
    const inLine = (same: (v: Semver.SemVer) => boolean) =>
      releases.filter((r) => r.prefix === prefix && same(r.version)).map((r) => r.version);
    const highest = (versions: Semver.SemVer[]) => versions.every((v) => semverLib().lte(v, version));
    const minorTag = `${prefix}${version.major}.${version.minor}`;
    if (highest(inLine((v) => v.major === version.major && v.minor === version.minor))) floating.push(minorTag);
    else notes.push(`${minorTag} is not moved: the target has a higher ${minorTag}.x release.`);
    const majorTag = `${prefix}${version.major}`;
    if (version.major === 0)
      notes.push(`${majorTag} is not written: a 0.x version makes no promise across minor versions.`);
    else if (highest(inLine((v) => v.major === version.major))) floating.push(majorTag);
    else notes.push(`${majorTag} is not moved: the target has a higher ${majorTag}.x.x release.`);
  }
  const floatingOnly = [...new Set(floating)].filter((t) => !unique.includes(t));
  return { explicit: unique, floating: floatingOnly, notes };
}
