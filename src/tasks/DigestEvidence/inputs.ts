import type { ConnectionInputs } from '../../connection/credentials';
import { messageOf } from '../../errors';
import type { ScanStatus } from '../../evidence/predicate';
import { SCAN_STATUSES } from '../../evidence/predicate';
import type { Digest } from '../../reference/digest';
import { parseDigest } from '../../reference/digest';
import type { ImageReference } from '../../reference/reference';
import { parseReference } from '../../reference/reference';
import type { TaskContext } from '../context';
import { invalidInput } from '../context';
import { readConnectionInputs } from '../connection';

// DigestEvidence@1 inputs, read once into a typed record whose keys are the input names.

export type DigestImage = ImageReference & { readonly digest: Digest };

export interface EvidenceInputs {
  readonly mode: 'record' | 'verify';
  readonly image: DigestImage;
  readonly environment?: string;
  readonly scanStatus: ScanStatus;
  readonly scanReport?: string;
  readonly approver: { readonly kind: 'auto' } | { readonly kind: 'given'; readonly name: string };
  readonly rollbackDigest:
    | { readonly kind: 'none' }
    | { readonly kind: 'auto' }
    | { readonly kind: 'given'; readonly digest: Digest };
  readonly outputPath?: string;
  readonly publishArtifact: string;
  readonly attach: boolean;
  readonly connection: ConnectionInputs;
}

export const DEFAULT_ARTIFACT = 'release-evidence';
const MODES = ['record', 'verify'] as const;

export function readEvidenceInputs(context: TaskContext): EvidenceInputs {
  const mode = context.choiceInput('mode', MODES, 'record');
  const imageText = context.requiredInput('image', '$(capture.IMAGE_REF)');
  const parsed = parseReference(imageText, 'input image');
  if (parsed.digest === undefined) {
    throw invalidInput(
      'image',
      imageText,
      'it names no digest. Evidence is about a digest, not a tag that can move: pass registry/repository@sha256:..., such as the IMAGE_REF output of DigestCapture@1 ($(capture.IMAGE_REF)).',
    );
  }
  const image: DigestImage = { ...parsed, digest: parsed.digest };

  const environment = context.input('environment') ?? context.variable('Environment.Name');
  const scanText = context.input('scanStatus');
  let scanStatus: ScanStatus = 'unknown';
  if (scanText !== undefined) {
    const match = SCAN_STATUSES.find((status) => status === scanText.toLowerCase());
    if (match === undefined) throw invalidInput('scanStatus', scanText, `use one of ${SCAN_STATUSES.join(', ')}.`);
    scanStatus = match;
  }
  const scanReport = context.filePathInput('scanReport');

  const approverText = context.input('approver');
  const approver: EvidenceInputs['approver'] =
    approverText === undefined || approverText.toLowerCase() === 'auto'
      ? { kind: 'auto' }
      : { kind: 'given', name: approverText };

  const rollbackText = context.input('rollbackDigest');
  let rollbackDigest: EvidenceInputs['rollbackDigest'] = { kind: 'none' };
  if (rollbackText !== undefined && rollbackText.toLowerCase() === 'auto') {
    if (mode === 'record' && environment === undefined) {
      throw invalidInput(
        'rollbackDigest',
        rollbackText,
        'auto finds the digest of the previous release to the same environment, so set the input environment too (or give a digest).',
      );
    }
    rollbackDigest = { kind: 'auto' };
  } else if (rollbackText !== undefined) {
    rollbackDigest = { kind: 'given', digest: givenDigest(rollbackText) };
  }

  const publishArtifact = context.input('publishArtifact') ?? DEFAULT_ARTIFACT;
  if (/[\\/:*?"<>|]/.test(publishArtifact))
    throw invalidInput('publishArtifact', publishArtifact, 'an artifact name may not hold \\ / : * ? " < > |.');

  const outputPath = context.input('outputPath');
  return {
    mode,
    image,
    ...(environment !== undefined ? { environment } : {}),
    scanStatus,
    ...(scanReport !== undefined ? { scanReport } : {}),
    approver,
    rollbackDigest,
    ...(outputPath !== undefined ? { outputPath } : {}),
    publishArtifact,
    attach: context.booleanInput('attach', true),
    connection: readConnectionInputs(context),
  };
}

function givenDigest(text: string): Digest {
  try {
    return parseDigest(text, 'input rollbackDigest');
  } catch (err) {
    // A digest reference is accepted too: the rollback target is often written as an image ref.
    const at = text.lastIndexOf('@');
    if (at > 0) {
      try {
        return parseDigest(text.slice(at + 1), 'input rollbackDigest');
      } catch {
        // fall through to the first error, which names the input
      }
    }
    throw invalidInput('rollbackDigest', text, `${messageOf(err)} Use sha256:<64 hex>, or auto.`);
  }
}
