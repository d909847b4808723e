import { basename } from 'node:path';
import type { YAMLMap } from 'yaml';
import type { HelmDigestKey } from '../helmkey';
import type { ImageSite } from '../image-sites';
import type { ParsedDocument } from '../yamlnodes';
import { asMap, entries, getString, getValue } from '../yamlnodes';
import { composeSites } from './compose';
import { helmSites } from './helm';
import { kubernetesSites } from './kubernetes';
import { kustomizeSites } from './kustomize';

// What a document is decides where its images are: a kustomization (kind Kustomization or
// Component, or a file named kustomization.yaml without a kind), a Kubernetes object (apiVersion
// and kind), a compose file (a services map and no kind), else Helm values.

export type DocumentKind = 'kustomization' | 'kubernetes' | 'compose' | 'values';

const KUSTOMIZATION_FILES = new Set(['kustomization.yaml', 'kustomization.yml', 'Kustomization']);

export function documentKind(doc: ParsedDocument, root: YAMLMap, fileName: string): DocumentKind {
  const kind = getString(root, 'kind', doc);
  const apiVersion = getString(root, 'apiVersion', doc);
  if (kind === 'Kustomization' || kind === 'Component') return 'kustomization';
  if (kind === undefined && KUSTOMIZATION_FILES.has(basename(fileName))) return 'kustomization';
  if (kind !== undefined && apiVersion !== undefined) return 'kubernetes';
  if (kind === undefined && apiVersion === undefined && isCompose(doc, root)) return 'compose';
  return 'values';
}

// Top-level keys of the compose specification; a values file with a `services:` key and other
// keys of its own stays Helm values.
const COMPOSE_KEYS = new Set([
  'version',
  'name',
  'services',
  'networks',
  'volumes',
  'configs',
  'secrets',
  'include',
  'models',
]);

function isCompose(doc: ParsedDocument, root: YAMLMap): boolean {
  if (asMap(getValue(root, 'services', doc), doc) === undefined) return false;
  return entries(root, doc).every(({ key }) => COMPOSE_KEYS.has(key) || key.startsWith('x-'));
}

export function documentSites(doc: ParsedDocument, fileName: string, helmKey: HelmDigestKey): ImageSite[] {
  const root = asMap(doc.contents, doc);
  if (root === undefined) return doc.contents === null ? [] : helmSites(doc, doc.contents, helmKey);
  switch (documentKind(doc, root, fileName)) {
    case 'kustomization':
      return kustomizeSites(doc, root);
    case 'kubernetes':
      return kubernetesSites(doc, root);
    case 'compose':
      return composeSites(doc, root);
    case 'values':
      return helmSites(doc, root, helmKey);
  }
}
