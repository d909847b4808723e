import { basename } from 'node:path';
import { AzureDevOpsClient } from '../../ado/devops-client';
import { hashLocalFile } from '../../files/read';
import { approvalFromAzureDevOps, givenApprover, unavailableApproval } from '../../evidence/approval';
import { attachEvidence } from '../../evidence/attach';
import type { LockFacts } from '../../acr/locks';
import { readLockFacts } from '../../acr/locks';
import type { ApprovalFacts, EvidencePredicate, RollbackFacts, RunFacts, ScanFacts } from '../../evidence/predicate';
import { givenRollback, previousRelease } from '../../evidence/rollback';
import { runFacts } from '../../evidence/pipeline-run';
import { serialiseEvidence } from '../../evidence/statement';
import { verifyEvidence } from '../../evidence/verify-evidence';
import { digestReference } from '../../reference/reference';
import type { RegistryClient } from '../../registry/client';
import { platformDigests } from '../../registry/manifest-parse';
import type { TaskContext } from '../context';
import { registryClientFor } from '../connection';
import type { OutputFile } from '../outputfile';
import { fileNamePart, outputFile, writeOutputFile } from '../outputfile';
import type { EvidenceInputs } from './inputs';
import { readEvidenceInputs } from './inputs';
import { evidenceSummary, lockText, verifiedSummary } from './summary';

// DigestEvidence@1: record release evidence for a digest (and attach it to the image), or verify
// that a digest carries evidence that allows it to be released.

const WRITER = { name: 'DigestEvidence', version: '1.0.0' } as const;

export async function evidenceTask(context: TaskContext, now: () => Date = () => new Date()): Promise<string> {
  const inputs = readEvidenceInputs(context);
  // Local files first: a place outside the job's folders or an unreadable scan report fails
  // before any registry is asked anything (and before evidence is attached).
  const file = outputFile(context, {
    input: 'outputPath',
    given: inputs.outputPath,
    folder: 'digest-evidence',
    name: `evidence-${inputs.image.digest.slice(7, 19)}${inputs.environment ? `-${fileNamePart(inputs.environment)}` : ''}.json`,
    what: 'the evidence',
    task: 'DigestEvidence',
    example: 'evidence/release.json',
  });
  const client = () => registryClientFor(context, inputs.image, inputs.connection, 'digest-release DigestEvidence/1');
  if (inputs.mode === 'verify') return verify(context, inputs, client(), file);
  const scan = scanFacts(inputs);
  return record(context, inputs, client(), file, scan, now);
}

async function record(
  context: TaskContext,
  inputs: EvidenceInputs,
  client: RegistryClient,
  file: OutputFile,
  scan: ScanFacts,
  now: () => Date,
): Promise<string> {
  const { image } = inputs;
  const ref = digestReference(image, image.digest);
  context.info(`Recording release evidence for ${ref}${inputs.environment ? ` in ${inputs.environment}` : ''}.`);
  const subject = await client.getManifest(image.repository, image.digest);
  const run = runFacts((name) => context.variable(name));

  const predicate: EvidencePredicate = {
    image: {
      registry: image.registry,
      repository: image.repository,
      tag: image.tag ?? null,
      digest: subject.digest,
      mediaType: subject.mediaType,
      platforms: subject.manifest.kind === 'index' ? platformDigests(subject.manifest) : {},
    },
    environment: inputs.environment ?? null,
    run,
    scan,
    approval: await approval(context, inputs, run),
    rollback: await rollback(context, inputs, client),
    lock: await lockState(context, client, inputs),
    writtenAt: now().toISOString(),
    writer: WRITER,
  };
  const evidence = serialiseEvidence(predicate);
  const path = writeEvidence(context, file, evidence.bytes);

  let attachedAs: string | undefined;
  if (inputs.attach) {
    const manifest = await attachEvidence(client, image.repository, evidence, {
      mediaType: subject.mediaType,
      digest: subject.digest,
      size: subject.bytes.byteLength,
    });
    attachedAs = `${image.registry}/${image.repository}@${manifest}`;
    context.info(`Attached the evidence to ${ref} as ${attachedAs}.`);
  }
  publish(context, inputs.publishArtifact, path);

  context.setOutput('EVIDENCE_PATH', path);
  context.setOutput('EVIDENCE_DIGEST', evidence.digest);
  context.uploadSummary(
    'DigestEvidence',
    evidenceSummary(predicate, {
      evidenceDigest: evidence.digest,
      path,
      heading: 'Release evidence',
      ...(attachedAs ? { attachedAs } : {}),
    }),
  );
  return `Evidence ${evidence.digest} recorded for ${ref}: scan ${predicate.scan.status}, approval ${predicate.approval.status}, lock ${predicate.lock.state}.`;
}

async function verify(
  context: TaskContext,
  inputs: EvidenceInputs,
  client: RegistryClient,
  file: OutputFile,
): Promise<string> {
  const { image } = inputs;
  const ref = digestReference(image, image.digest);
  context.info(`Verifying the release evidence of ${ref}${inputs.environment ? ` for ${inputs.environment}` : ''}.`);
  const { chosen, lock } = await verifyEvidence(client, image.repository, image.digest, inputs.environment);
  const path = writeEvidence(context, file, chosen.evidence.bytes);
  context.setOutput('EVIDENCE_PATH', path);
  context.setOutput('EVIDENCE_DIGEST', chosen.evidence.digest);
  context.uploadSummary('DigestEvidence', verifiedSummary(ref, { chosen, lock }));
  const locked = lock.state === 'locked' ? ', manifest locked' : '';
  return `${ref} carries evidence ${chosen.evidence.digest} (scan passed${chosen.evidence.environment ? `, environment ${chosen.evidence.environment}` : ''}${locked}).`;
}

/** The manifest's lock state, read live; a state that cannot be read is recorded as such and warned about. */
async function lockState(context: TaskContext, client: RegistryClient, inputs: EvidenceInputs): Promise<LockFacts> {
  const lock = await readLockFacts(client, inputs.image.repository, inputs.image.digest);
  if (lock.state === 'unknown') context.warning(`The lock state is recorded as unknown: ${lock.reason ?? ''}`);
  else context.info(`Lock state: ${lockText(lock)}.`);
  return lock;
}

/**
 * The most a scan report may hold. Only its name and sha256 are recorded, and it is hashed in
 * chunks, so the limit bounds the time, not the memory: far above a scanner's JSON or SARIF report.
 */
export const SCAN_REPORT_LIMIT = 256 * 1024 * 1024;

function scanFacts(inputs: EvidenceInputs): ScanFacts {
  if (inputs.scanReport === undefined) return { status: inputs.scanStatus, report: null };
  const { sha256 } = hashLocalFile(inputs.scanReport, {
    what: `The input scanReport has the value "${inputs.scanReport}"`,
    limit: SCAN_REPORT_LIMIT,
    kind: 'a scan report',
    code: 'FILE_ACCESS',
    fix: "Give the path of the scanner's report file, or leave it empty.",
  });
  return { status: inputs.scanStatus, report: { name: basename(inputs.scanReport), sha256 } };
}

async function approval(context: TaskContext, inputs: EvidenceInputs, run: RunFacts): Promise<ApprovalFacts> {
  if (inputs.approver.kind === 'given') return givenApprover(inputs.approver.name);
  const facts = await approvalFromRun(context, run);
  if (facts.status === 'unavailable') context.warning(`The approver is recorded as unknown: ${facts.reason ?? ''}`);
  return facts;
}

/** The approvals of this run, asked of Azure DevOps with the run facts already read for the evidence. */
async function approvalFromRun(context: TaskContext, run: RunFacts): Promise<ApprovalFacts> {
  const { collectionUri, id: buildId } = run;
  const project = run.project.id ?? run.project.name;
  if (collectionUri === null || project === null || buildId === null) {
    return unavailableApproval(
      'Not running in an Azure Pipelines run (System.CollectionUri, System.TeamProjectId or Build.BuildId is missing).',
    );
  }
  const token = context.endpoints.authorizationParameter('SystemVssConnection', 'AccessToken');
  if (token === undefined)
    return unavailableApproval('The job has no access token (the SystemVssConnection endpoint is missing).');
  context.setSecret(token);
  const client = new AzureDevOpsClient({
    collectionUri,
    project,
    token,
    userAgent: 'digest-release DigestEvidence/1',
    network: context.network,
  });
  const jobId = context.variable('System.JobId');
  return approvalFromAzureDevOps(client, {
    buildId,
    ...(jobId ? { jobId } : {}),
    ...(run.stage ? { stageName: run.stage } : {}),
  });
}

async function rollback(context: TaskContext, inputs: EvidenceInputs, client: RegistryClient): Promise<RollbackFacts> {
  const { image } = inputs;
  switch (inputs.rollbackDigest.kind) {
    case 'none':
      return { digest: null, source: 'none', evidence: null, reason: null };
    case 'given':
      return givenRollback(client, image.repository, inputs.rollbackDigest.digest);
    case 'auto': {
      const search = await previousRelease(client, image.repository, inputs.environment!, image.digest);
      for (const note of search.notes) context.warning(note);
      context.info(
        search.facts.digest
          ? `Rollback target: ${search.facts.digest} (from evidence ${search.facts.evidence}).`
          : (search.facts.reason ?? ''),
      );
      return search.facts;
    }
  }
}

function writeEvidence(context: TaskContext, file: OutputFile, bytes: Uint8Array): string {
  return writeOutputFile(context, file, bytes);
}

function publish(context: TaskContext, artifact: string, path: string): void {
  const hostType = context.variable('System.HostType');
  if (hostType?.toLowerCase() !== 'build') {
    context.info(
      `Not published as artifact ${artifact}: artifacts can be published only in build (YAML) runs${hostType ? `, and this is a ${hostType} run` : ''}.`,
    );
    return;
  }
  context.uploadArtifact(artifact, artifact, path);
}
