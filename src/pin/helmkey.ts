import { DigestReleaseError } from '../errors';

// The `helmDigestKey` input: a dotted path whose last key holds the digest and whose leading keys
// name the image map, matched as the end of its path in the values (`image.digest` finds
// `image`, `frontend.image` and `global.image`).

export interface HelmDigestKey {
  readonly text: string;
  /** Keys that end the path of an image map; empty for any map with a `repository` key. */
  readonly mapPath: readonly string[];
  /** The key the digest is written to, inside the image map. */
  readonly key: string;
}

const KEY_RE = /^[A-Za-z0-9_-]+$/;

export function parseHelmDigestKey(value: string): HelmDigestKey {
  const keys = value.split('.');
  if (keys.some((key) => !KEY_RE.test(key))) {
    throw new DigestReleaseError(
      'INVALID_INPUT',
      `The input helmDigestKey has the value "${value}": write the path of the digest in the chart's values as keys separated by ".", each of letters, digits, "_" and "-", for example image.digest.`,
    );
  }
  return { text: value, mapPath: keys.slice(0, -1), key: keys[keys.length - 1]! };
}

/** Whether the path of a map in the values ends with the key's map path. */
export function endsWithMapPath(helmKey: HelmDigestKey, path: readonly string[]): boolean {
  const tail = helmKey.mapPath;
  if (tail.length > path.length) return false;
  return tail.every((key, i) => path[path.length - tail.length + i] === key);
}
