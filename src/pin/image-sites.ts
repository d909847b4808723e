import type { Scalar, YAMLMap } from 'yaml';

// Where an image is named in a document. The walkers find sites; the planner decides what each
// one means and what to change.

/** A string that is a whole reference: a container's or a compose service's `image`. */
export interface ReferenceSite {
  readonly kind: 'reference';
  readonly node: Scalar<string>;
  readonly context: string;
}

/** A Helm values image map: `repository` (and `registry`, `tag`) with the digest in its own key. */
export interface HelmSite {
  readonly kind: 'helm';
  readonly map: YAMLMap;
  readonly registry?: Scalar<string>;
  readonly repository: Scalar<string>;
  readonly tag?: Scalar;
  /** The digest key's value when the key is there (a null scalar for `digest:`). */
  readonly digest?: Scalar;
  readonly context: string;
}

/** A kustomization `images:` entry: `name`, `newName`, `newTag`, `digest`. */
export interface KustomizeSite {
  readonly kind: 'kustomize';
  readonly map: YAMLMap;
  readonly name: Scalar<string>;
  readonly newName?: Scalar<string>;
  readonly newTag?: Scalar;
  readonly digest?: Scalar;
  readonly context: string;
}

/** An image DigestPin cannot read (not a string, a template): reported, never changed. */
export interface UnknownSite {
  readonly kind: 'unknown';
  readonly offset: number;
  readonly value: string;
  readonly why: string;
  readonly context: string;
}

export type ImageSite = ReferenceSite | HelmSite | KustomizeSite | UnknownSite;

/** A site for an `image` value: a reference when it is a string, else reported as not understood. */
export function imageValueSite(
  value: unknown,
  resolved: Scalar | undefined,
  offset: number,
  context: string,
): ImageSite | undefined {
  if (resolved !== undefined && typeof resolved.value === 'string')
    return { kind: 'reference', node: resolved as Scalar<string>, context };
  if (resolved !== undefined && resolved.value === null) return undefined;
  const shown = value === null || value === undefined ? '' : String(value);
  return { kind: 'unknown', offset, value: shown, why: 'the image is not a string', context };
}
