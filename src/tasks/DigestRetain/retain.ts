import { isAcr } from '../../acr/detect';
import { unsupported } from '../../acr/locks';
import { DigestReleaseError } from '../../errors';
import type { FoundEvidence } from '../../evidence/find';
import { repositoryEvidence } from '../../evidence/repository';
import { runFacts } from '../../evidence/pipeline-run';
import type { Digest } from '../../reference/digest';
import { isDigest } from '../../reference/digest';
import { repositoryName } from '../../reference/reference';
import type { KeepDecision, Release } from '../../retain/decide';
import { UNREADABLE, decideKeep } from '../../retain/decide';
import { keepListDocument } from '../../retain/keeplist';
import { neededManifests, releaseParts } from '../../retain/needs';
import type { ProtectOutcome } from '../../retain/protect';
import { protectKept } from '../../retain/protect';
import { scopeOf } from '../../retain/protection';
import type { TaskContext } from '../context';
import { registryClientFor } from '../connection';
import { fileNamePart, outputFile, writeOutputFile } from '../outputfile';
import { readRetainInputs } from './inputs';
import { retainSummary, shortDigest } from './summary';

// DigestRetain@1: from the release evidence in a repository, decide per environment which digests
// must be kept (current, the last N releases, releases younger than D days, rollback targets), write
// that as a keep list and a build summary, and with action protect make them undeletable on Azure
// Container Registry, re-enabling deletes only on what this task protected before.

/** Any digest: the ACR probe signs in before it looks the digest up. */
const PROBE = `sha256:${'0'.repeat(64)}` as Digest;

export function releaseOf(found: FoundEvidence): Release {
  const { evidence } = found;
  return {
    digest: evidence.subjectDigest,
    environment: evidence.environment,
    releasedAt: evidence.writtenAt,
    evidence: evidence.digest,
    manifest: found.manifest,
    scanStatus: evidence.scanStatus,
    rollbackDigest:
      evidence.rollbackDigest !== null && isDigest(evidence.rollbackDigest) ? evidence.rollbackDigest : null,
  };
}

export async function retainTask(context: TaskContext, now: () => Date = () => new Date()): Promise<string> {
  const inputs = readRetainInputs(context);
  const name = repositoryName(inputs.repository);
  const repository = inputs.repository.repository;
  // The keep list's place is checked before any registry is asked anything.
  const keepListFile = outputFile(context, {
    input: 'outputPath',
    given: inputs.outputPath,
    folder: 'digest-retain',
    name: `keep-${fileNamePart(inputs.repository.registry)}-${fileNamePart(repository)}.json`,
    what: 'the keep list',
    task: 'DigestRetain',
    example: 'retain/keep-list.json',
  });
  const client = registryClientFor(context, inputs.repository, inputs.connection, 'digest-release DigestRetain/1');
  const decidedAt = now();

  // 0. protect needs ACR: say so before anything is read.
  let protectSkipped: string | undefined;
  if (inputs.action === 'protect' && !(await isAcr(client, repository, PROBE))) {
    const err = unsupported(
      client.registry,
      'then use action: report (the keep list is written either way) and have the clean-up skip the digests in it, or set failOnUnsupported: false so this step warns instead of failing.',
    );
    if (inputs.failOnUnsupported) throw err;
    context.warning(`${err.message} (failOnUnsupported is false: the keep list is written, nothing is protected.)`);
    protectSkipped = `${client.registry} is not an Azure Container Registry, which is where manifests can be made undeletable; the keep list says what a clean-up must leave.`;
  }

  // 1. Every release the evidence records; nothing decided on a partial picture.
  const scan = await repositoryEvidence(client, repository);
  for (const note of scan.subjects.notes) context.warning(note);
  if (!scan.subjects.complete) {
    context.warning(
      `${client.registry} has the referrers API but no listing of untagged manifests, so only the digests that tags of ${repository} point at were looked at: a release whose tag was deleted or moved is not in the keep list. Keep a tag on every release (the build's tag), or clean up by tag only.`,
    );
  }
  if (scan.failures.length > 0) {
    throw new DigestReleaseError(
      'KEEP_LIST_INCOMPLETE',
      `The evidence of ${scan.failures.length} digest${scan.failures.length === 1 ? '' : 's'} in ${name} could not be read, so the keep list would be incomplete and nothing was decided: ` +
        `${scan.failures.map((f) => `${f.subject}: ${f.message}`).join('; ')}. Check the connection and the registry, then run again; do not clean up this repository before.`,
    );
  }
  for (const problem of scan.problems)
    context.warning(
      `${problem.message} ${problem.subject} is kept: its evidence cannot be read, so it may be a release.`,
    );
  context.info(
    `Found ${scan.found.length} release evidence record${scan.found.length === 1 ? '' : 's'} on ${new Set(scan.found.map((f) => f.evidence.subjectDigest)).size} of ${scan.subjects.digests.length} digests (${sourceText(scan.subjects.source)}).`,
  );

  // 2. The decision, and what keeping it takes in the registry.
  const decision = decideKeep(
    scan.found.map(releaseOf),
    scan.problems.map((p) => ({ digest: p.subject, message: p.message })),
    inputs.policy,
    decidedAt,
  );
  for (const environment of decision.unknownEnvironments) {
    context.warning(
      `The input environments names ${environment}, but no evidence in ${name} is for it, so nothing is kept for it. Check the name: it is the environment DigestEvidence@1 recorded (the deployment job's environment).`,
    );
  }
  const parts = await releaseParts(client, repository, decision.digests);
  const missing = decision.digests.filter((digest) => !parts.get(digest)?.present);
  for (const digest of missing)
    context.warning(
      `${name}@${digest} is to be kept (${keptFor(decision, digest)}) but the repository no longer has it: it was deleted before this run.`,
    );
  const needed = neededManifests(decision, parts);
  logDecision(context, decision);

  const base = {
    registry: client.registry,
    repository,
    decidedAt: decidedAt.toISOString(),
    policy: inputs.policy,
    action: inputs.action,
    decision,
    needed,
    missing,
    problems: scan.problems.map((p) => ({ digest: p.subject, manifest: p.manifest, message: p.message })),
    discovery: {
      source: scan.subjects.source,
      complete: scan.subjects.complete,
      subjects: scan.subjects.digests.length,
    },
  };
  const writeKeepList = (protection?: ProtectOutcome): string =>
    writeOutputFile(
      context,
      keepListFile,
      Buffer.from(`${JSON.stringify(keepListDocument({ ...base, ...(protection ? { protection } : {}) }), null, 2)}\n`),
    );
  // Written before protect changes anything, so a protect that fails leaves the decision to read.
  let path = writeKeepList();

  // 3. protect, on Azure Container Registry.
  let protection: ProtectOutcome | undefined;
  if (inputs.action === 'protect' && protectSkipped === undefined) {
    const run = runFacts((variable) => context.variable(variable));
    protection = await protectKept({
      client,
      repository,
      needed,
      scope: scopeOf(inputs.policy.environments, [UNREADABLE]),
      evidenced: new Set(scan.found.map((f) => f.evidence.subjectDigest)),
      ...(scan.subjects.listing ? { listing: scan.subjects.listing } : {}),
      stamp: { at: decidedAt.toISOString(), run: run.url },
      warning: (message) => context.warning(message),
    });
    for (const digest of protection.missing)
      context.warning(
        `${name}@${digest} is needed by a kept release but the repository does not have it, so it could not be protected.`,
      );
    for (const held of protection.held) context.info(`${shortDigest(held.digest)} stays protected: ${held.why}.`);
    for (const forgotten of protection.forgotten)
      context.info(`${shortDigest(forgotten.digest)} left DigestRetain's record without a change: ${forgotten.why}.`);
    path = writeKeepList(protection);
  }

  const protectedCount = protection ? protection.protectedNow.length + protection.already.length : 0;
  context.setOutput('KEEP_COUNT', String(decision.digests.length));
  context.setOutput('KEEP_LIST_PATH', path);
  context.setOutput('PROTECTED_COUNT', String(protectedCount));
  context.setOutput('RELEASED_COUNT', String(protection?.released.length ?? 0));
  context.uploadSummary(
    'DigestRetain',
    retainSummary({
      repository: name,
      policy: inputs.policy,
      decision,
      missing,
      problems: base.problems,
      ...(protection ? { protection } : {}),
      ...(protectSkipped ? { protectSkipped } : {}),
      keepListPath: path,
    }),
  );
  const kept = `Kept ${decision.digests.length} digest${decision.digests.length === 1 ? '' : 's'} of ${name} for ${decision.environments.length} environment${decision.environments.length === 1 ? '' : 's'}`;
  if (!protection) return `${kept}${protectSkipped ? '; nothing protected: not an Azure Container Registry' : ''}.`;
  return `${kept}; ${protectedCount} manifest${protectedCount === 1 ? '' : 's'} delete-protected and read back (${protection.protectedNow.length} by this run), ${protection.released.length} released.`;
}

function sourceText(source: string): string {
  switch (source) {
    case 'acrListing':
      return "every manifest, from Azure Container Registry's listing";
    case 'tagSchema':
      return 'every digest with referrers, from the referrers tag schema';
    default:
      return 'the digests the tags point at';
  }
}

function keptFor(decision: KeepDecision, digest: Digest): string {
  return decision.keep
    .filter((entry) => entry.digest === digest)
    .map((entry) => `${entry.environment}: ${entry.reasons.join(', ')}`)
    .join('; ');
}

function logDecision(context: TaskContext, decision: KeepDecision): void {
  for (const env of decision.environments) {
    const kept = env.released.filter((row) => row.reasons.length > 0).length + env.targetsOnly.length;
    context.info(
      `${env.environment}: runs ${env.current}; rollback target ${env.rollbackTarget ?? 'none named'}; ${env.released.length} digest(s) released, ${kept} kept.`,
    );
  }
}
