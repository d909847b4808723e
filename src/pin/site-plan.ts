import type { Scalar, YAMLMap } from 'yaml';
import { messageOf } from '../errors';
import { isDigest } from '../reference/digest';
import type { ImageReference } from '../reference/reference';
import { parseReference, repositoryName } from '../reference/reference';
import type { Edit } from './edits';
import { appendPairs, replaceScalar } from './edits';
import type { ImageRecord, PinOptions, Problem } from './file-plan';
import type { HelmSite, ImageSite, KustomizeSite, ReferenceSite } from './image-sites';
import { isAllowed } from './registries';
import type { PinTarget } from './targets';
import { targetFor } from './targets';
import { hasTemplate, nameText } from './written-reference';

// Plans one image site of a file (file-plan.ts walks the file): a reference string, a Helm
// repository/tag/digest map or a Kustomize images entry. Decides whether it is pinned, allowed and
// understood, and in pin mode the edits that pin it; an anchor shared by two images is planned once.

export interface Draft {
  readonly edits: Edit[];
  /** Values planned for scalars, so an anchor shared by two images is changed once, consistently. */
  readonly planned: Map<Scalar, string>;
}

export function planSite(site: ImageSite, line: number, text: string, options: PinOptions, draft: Draft): ImageRecord {
  switch (site.kind) {
    case 'unknown':
      return notUnderstood(line, site.context, site.value, `${site.why}; DigestPin leaves it as it is`);
    case 'reference':
      return planReference(site, line, text, options, draft);
    case 'helm':
      return planHelm(site, line, text, options, draft);
    case 'kustomize':
      return planKustomize(site, line, text, options, draft);
  }
}

function notUnderstood(line: number, context: string, value: string, why: string): ImageRecord {
  return {
    line,
    context,
    before: value,
    after: value,
    pinned: false,
    changed: false,
    problems: [{ kind: 'not-understood', message: why }],
  };
}

/**
 * An image an images line targets that cannot be rewritten in place. It keeps its target (the
 * line did match an image) and carries a problem that fails pin mode: deploying it would deploy
 * the tag.
 */
function notWritten(
  line: number,
  context: string,
  before: string,
  current: ImageReference,
  target: PinTarget,
  options: PinOptions,
  why: string,
): ImageRecord {
  const disallowed = problemsAfter(current, target, options, before).filter((problem) => problem.kind === 'disallowed');
  return {
    line,
    context,
    before,
    after: before,
    target,
    pinned: current.digest === target.digest,
    changed: false,
    problems: [{ kind: 'not-written', message: `${before} cannot be pinned in place: ${why}` }, ...disallowed],
  };
}

const SHARED_ANCHOR = 'an anchor shared with another image that is pinned to another digest';

function tryParse(value: string): ImageReference | string {
  try {
    return parseReference(value, 'image');
  } catch (err) {
    return messageOf(err);
  }
}

/** Plans a scalar's new value; false when the scalar cannot take it. */
function setScalar(draft: Draft, text: string, node: Scalar, value: string): boolean | 'conflict' {
  const earlier = draft.planned.get(node);
  if (earlier !== undefined) return earlier === value ? true : 'conflict';
  if (node.value === value) return true;
  const edit = replaceScalar(text, node, value);
  if (edit === undefined) return false;
  draft.planned.set(node, value);
  draft.edits.push(edit);
  return true;
}

function problemsAfter(
  ref: ImageReference,
  target: PinTarget | undefined,
  options: PinOptions,
  shown: string,
): Problem[] {
  const problems: Problem[] = [];
  if (ref.digest === undefined) {
    problems.push({ kind: 'unpinned', message: `${shown} is not pinned to a digest` });
  } else if (target !== undefined && ref.digest !== target.digest) {
    problems.push({
      kind: 'other-digest',
      message: `${shown} is pinned to ${ref.digest}, but the images line "${target.line}" says ${target.digest}`,
    });
  }
  if (!isAllowed(options.allowed, ref)) {
    problems.push({
      kind: 'disallowed',
      message: `${shown} comes from ${ref.registry}/${ref.repository}, which allowedRegistries (${options.allowed.map((rule) => rule.text).join(', ')}) does not allow`,
    });
  }
  return problems;
}

function planReference(
  site: ReferenceSite,
  line: number,
  text: string,
  options: PinOptions,
  draft: Draft,
): ImageRecord {
  const value = site.node.value;
  if (hasTemplate(value))
    return notUnderstood(
      line,
      site.context,
      value,
      'it is a Helm template expression, which DigestPin does not evaluate; pin the chart values or the rendered manifests instead',
    );
  const ref = tryParse(value);
  if (typeof ref === 'string') return notUnderstood(line, site.context, value, ref);
  const target = targetFor(options.targets, repositoryName(ref));
  let after = value;
  if (options.mode === 'pin' && target !== undefined) {
    const renamed = target.rename !== undefined && repositoryName(ref) !== repositoryName(target.reference);
    const name = renamed ? target.rename! : nameText(value);
    const tag = options.keepTag ? (target.reference.tag ?? ref.tag) : undefined;
    const wanted = `${name}${tag === undefined ? '' : `:${tag}`}@${target.digest}`;
    const set = setScalar(draft, text, site.node, wanted);
    if (set === 'conflict') {
      return notWritten(
        line,
        site.context,
        value,
        ref,
        target,
        options,
        `its value is ${SHARED_ANCHOR}. Give this image its own value instead of the alias to have it pinned.`,
      );
    }
    if (!set) {
      return notWritten(
        line,
        site.context,
        value,
        ref,
        target,
        options,
        `it is a block scalar (| or >), which DigestPin does not rewrite. Write the image as a plain scalar on one line (${value.trim()}) to have it pinned.`,
      );
    }
    after = wanted;
  }
  const afterRef = after === value ? ref : parseReference(after, 'image');
  return {
    line,
    context: site.context,
    before: value,
    after,
    ...(target ? { target } : {}),
    pinned: afterRef.digest !== undefined,
    changed: after !== value,
    problems: problemsAfter(afterRef, target, options, after),
  };
}

function digestOf(node: Scalar | undefined): string | undefined {
  return node !== undefined && typeof node.value === 'string' && isDigest(node.value.trim())
    ? node.value.trim()
    : undefined;
}

function scalarText(node: Scalar | undefined): string | undefined {
  if (node === undefined || node.value === null || node.value === undefined) return undefined;
  const value = typeof node.value === 'string' ? node.value : (node.source ?? String(node.value));
  return value === '' ? undefined : value;
}

/**
 * Plans the keys of an image map (the digest, and names for a rename). Undefined when planned;
 * else why one of them cannot be written, with nothing of this map planned.
 */
function planMapDigest(
  draft: Draft,
  text: string,
  map: YAMLMap,
  digestKey: string,
  digestNode: Scalar | undefined,
  digest: string,
  sets: ReadonlyArray<{ key: string; node: Scalar | undefined; value: string }>,
): string | undefined {
  const editsBefore = draft.edits.length;
  const plannedHere: Scalar[] = [];
  const fail = (why: string): string => {
    draft.edits.length = editsBefore;
    for (const node of plannedHere) draft.planned.delete(node);
    return why;
  };
  const missing: Array<[string, string]> = [];
  for (const { key, node, value } of [...sets, { key: digestKey, node: digestNode, value: digest }]) {
    if (node === undefined) {
      missing.push([key, value]);
      continue;
    }
    const known = draft.planned.has(node);
    const set = setScalar(draft, text, node, value);
    if (set === 'conflict')
      return fail(
        `its ${key} is ${SHARED_ANCHOR}. Give this image its own ${key} value instead of the alias to have it pinned.`,
      );
    if (!set)
      return fail(
        `its ${key} is a block scalar (| or >), which DigestPin does not rewrite. Write ${key} as a plain scalar on one line to have it pinned.`,
      );
    if (!known && draft.planned.has(node)) plannedHere.push(node);
  }
  if (missing.length === 0) return undefined;
  const edit = appendPairs(text, map, missing);
  if (edit === undefined)
    return fail(
      `DigestPin cannot add ${missing.map(([key]) => key).join(' and ')} to this map. Add ${missing.map(([key]) => `${key}: ""`).join(' and ')} to it to have it pinned.`,
    );
  draft.edits.push(edit);
  return undefined;
}

function planHelm(site: HelmSite, line: number, text: string, options: PinOptions, draft: Draft): ImageRecord {
  const key = options.helmKey.key;
  const registry = site.registry?.value;
  const repository = site.repository.value;
  const name = registry === undefined || registry === '' ? repository : `${registry.replace(/\/+$/, '')}/${repository}`;
  const tag = scalarText(site.tag);
  const current = digestOf(site.digest) ?? (tag?.includes('@') ? tag.slice(tag.indexOf('@') + 1) : undefined);
  const show = (n: string, d: string | undefined) =>
    `${n}${tag === undefined || tag.includes('@') ? '' : `:${tag}`}${d === undefined ? '' : `@${d}`}`;
  const before = show(name, current);
  if (hasTemplate(name))
    return notUnderstood(
      line,
      site.context,
      before,
      'the registry or repository is a Helm template expression, which DigestPin does not evaluate',
    );
  const ref = tryParse(name);
  if (typeof ref === 'string') return notUnderstood(line, site.context, before, ref);
  if (ref.tag !== undefined || ref.digest !== undefined) {
    return notUnderstood(
      line,
      site.context,
      before,
      `the repository value carries a tag or digest; DigestPin writes the digest to ${key} and keeps repository a plain name`,
    );
  }
  const target = targetFor(options.targets, repositoryName(ref));
  let afterName = name;
  let afterDigest = current;
  if (options.mode === 'pin' && target !== undefined) {
    const sets: Array<{ key: string; node: Scalar | undefined; value: string }> = [];
    if (target.rename !== undefined && repositoryName(ref) !== repositoryName(target.reference)) {
      if (site.registry !== undefined) {
        sets.push({ key: 'registry', node: site.registry, value: target.reference.registry });
        sets.push({ key: 'repository', node: site.repository, value: target.reference.repository });
        afterName = `${target.reference.registry}/${target.reference.repository}`;
      } else {
        sets.push({ key: 'repository', node: site.repository, value: target.rename });
        afterName = target.rename;
      }
    }
    const why = planMapDigest(draft, text, site.map, key, site.digest, target.digest, sets);
    if (why !== undefined)
      return notWritten(
        line,
        site.context,
        before,
        current !== undefined && isDigest(current) ? parseReference(`${name}@${current}`, 'image') : ref,
        target,
        options,
        why,
      );
    afterDigest = target.digest;
  }
  return mapRecord(line, site.context, before, show(afterName, afterDigest), afterName, afterDigest, target, options);
}

function planKustomize(
  site: KustomizeSite,
  line: number,
  text: string,
  options: PinOptions,
  draft: Draft,
): ImageRecord {
  const name = site.name.value;
  const newName = site.newName?.value;
  const effectiveText = newName ?? name;
  const current = digestOf(site.digest);
  const newTag = scalarText(site.newTag);
  const show = (n: string, d: string | undefined) =>
    `${n}${newTag === undefined || d !== undefined ? '' : `:${newTag}`}${d === undefined ? '' : `@${d}`}`;
  const before = show(effectiveText, current);
  const effective = tryParse(effectiveText);
  if (typeof effective === 'string') return notUnderstood(line, site.context, before, effective);
  const original = tryParse(name);
  const byName = typeof original === 'string' ? undefined : targetFor(options.targets, repositoryName(original));
  const target =
    targetFor(options.targets, repositoryName(effective)) ?? (byName?.rename !== undefined ? byName : undefined);
  let afterName = effectiveText;
  let afterDigest = current;
  if (options.mode === 'pin' && target !== undefined) {
    const sets: Array<{ key: string; node: Scalar | undefined; value: string }> = [];
    if (target.rename !== undefined && repositoryName(effective) !== repositoryName(target.reference)) {
      sets.push({ key: 'newName', node: site.newName, value: target.rename });
      afterName = target.rename;
    }
    const why = planMapDigest(draft, text, site.map, 'digest', site.digest, target.digest, sets);
    if (why !== undefined)
      return notWritten(
        line,
        site.context,
        before,
        current === undefined ? effective : parseReference(`${effectiveText}@${current}`, 'image'),
        target,
        options,
        why,
      );
    afterDigest = target.digest;
  }
  return mapRecord(line, site.context, before, show(afterName, afterDigest), afterName, afterDigest, target, options);
}

/** The record of an image kept in a map (Helm values, kustomize): its name and digest after the plan. */
function mapRecord(
  line: number,
  context: string,
  before: string,
  after: string,
  afterName: string,
  afterDigest: string | undefined,
  target: PinTarget | undefined,
  options: PinOptions,
): ImageRecord {
  const pinned = afterDigest !== undefined && isDigest(afterDigest);
  const effective = parseReference(pinned ? `${afterName}@${afterDigest}` : afterName, 'image');
  return {
    line,
    context,
    before,
    after,
    ...(target ? { target } : {}),
    pinned,
    changed: after !== before,
    problems: problemsAfter(effective, target, options, after),
  };
}
