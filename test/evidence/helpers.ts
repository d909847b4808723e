import type { EvidencePredicate } from '../../src/evidence/predicate';

/** A complete predicate with every kind of value, for tests that change one fact at a time. */
export function samplePredicate(overrides: Partial<EvidencePredicate> = {}): EvidencePredicate {
  return {
    image: {
      registry: 'myacr.azurecr.io',
      repository: 'shop/web',
      tag: '20250312.3',
      digest: `sha256:${'9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'}`,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      platforms: { 'linux/amd64': `sha256:${'a'.repeat(64)}`, 'linux/arm64/v8': `sha256:${'b'.repeat(64)}` },
    },
    environment: 'prod',
    run: {
      collectionUri: 'https://dev.azure.com/fabrikam/',
      organization: 'fabrikam',
      project: { id: '3f0c7a52-5b6e-4a0e-9d55-2b1f1c9b7e10', name: 'Contoso Shop' },
      definition: { id: 42, name: 'shop-release' },
      id: 4711,
      number: '20250312.3',
      url: 'https://dev.azure.com/fabrikam/3f0c7a52-5b6e-4a0e-9d55-2b1f1c9b7e10/_build/results?buildId=4711',
      stage: 'DeployProd',
      stageAttempt: 1,
      job: 'DeployWeb',
      repository: { uri: 'https://dev.azure.com/fabrikam/Contoso%20Shop/_git/shop', name: 'shop', provider: 'TfsGit' },
      commit: '4f3e2d1c0b9a8f7e6d5c4b3a29180716f5e4d3c2',
      branch: 'refs/heads/main',
    },
    scan: { status: 'passed', report: { name: 'trivy.json', sha256: 'c'.repeat(64) } },
    approval: {
      source: 'azureDevOps',
      status: 'approved',
      reason: null,
      approvers: [
        {
          name: 'Dana Reviewer',
          uniqueName: 'dana@contoso.com',
          id: '6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
          approvedAt: '2025-03-12T10:41:07.1234567Z',
          comment: 'LGTM',
          approvalId: 'a4c2e6f8-0b1d-4e3f-9a5c-7e9b1d3f5a70',
        },
      ],
    },
    rollback: {
      digest: `sha256:${'d'.repeat(64)}`,
      source: 'auto',
      evidence: `sha256:${'e'.repeat(64)}`,
      reason: null,
    },
    lock: { state: 'unknown', reason: 'not read', writeEnabled: null, deleteEnabled: null },
    writtenAt: '2025-03-12T10:42:00.000Z',
    writer: { name: 'DigestEvidence', version: '1.0.0' },
    ...overrides,
  };
}
