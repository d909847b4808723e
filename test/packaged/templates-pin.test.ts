import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentInputs, environments, expand, extending, jobsOf, serviceRepo, step } from '../templates/harness';
import { digestOf } from '../pin/helpers';
import { AgentJob } from '../../lab/agent';

// One set of Kubernetes manifests, naming the build registry's image, deployed to two
// environments with their own registries: DigestPin@1 run from the packaged .vsix with the
// inputs deploy-with-digest.yml generates (read from the expanded pipeline), $(promote.IMAGE_REF)
// replaced by what DigestPromote@1 outputs in each environment.

const MANIFEST = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  template:
    spec:
      containers:
      - name: api
        image: contosobuild.azurecr.io/shop/api:1.4.2 # the build registry's image
`;

function pinSteps(stage: string): { pin: Record<string, string>; check: Record<string, string> } {
  const pipeline = extending({
    buildRegistry: 'contosobuild.azurecr.io',
    buildServiceConnection: 'acr-build',
    services: [
      { name: 'api', repository: 'shop/api', deploy: { method: 'kubernetes', manifests: 'deploy/api/*.yaml' } },
    ],
    environments: environments(['staging', 'production']),
  });
  const repo = serviceRepo(pipeline);
  const deploy = jobsOf(expand(repo.file, repo.root), stage)[0]!;
  return { pin: agentInputs(step(deploy, 'pin')), check: agentInputs(step(deploy, 'pin_check')) };
}

describe('task: DigestPin@1 with the inputs deploy-with-digest.yml generates', function () {
  this.timeout(60_000);
  let job: AgentJob;
  let work: string;

  beforeEach(() => {
    job = new AgentJob();
    work = job.sourcesDirectory;
    mkdirSync(join(work, 'deploy', 'api'), { recursive: true });
    writeFileSync(join(work, 'deploy', 'api', 'deployment.yaml'), MANIFEST);
  });
  afterEach(() => job.dispose());

  for (const [stage, registry] of [
    ['env_staging', 'contosostaging.azurecr.io'],
    ['env_production', 'contosoproduction.azurecr.io'],
  ] as const) {
    it(`pins manifests naming the build registry image to the ${registry} digest, and the check passes`, async () => {
      const ref = `${registry}/shop/api@${digestOf(stage)}`;
      const { pin, check } = pinSteps(stage);
      assert.equal(pin['images'], 'contosobuild.azurecr.io/shop/api=$(promote.IMAGE_REF)');
      // What DigestPromote@1 (step name promote) output earlier in the job.
      job.recordOutput('promote', 'IMAGE_REF', ref);

      const pinned = await job.run('DigestPin', { inputs: pin });
      assert.equal(pinned.result, 'Succeeded', pinned.message);
      assert.equal(pinned.outputs.FILES_CHANGED, '1');
      const text = readFileSync(join(work, 'deploy', 'api', 'deployment.yaml'), 'utf8');
      assert.match(text, new RegExp(`image: ${ref.replace(/[.]/g, '\\.')} # the build registry's image`));
      assert.ok(!text.includes('contosobuild'), text);

      const checked = await job.run('DigestPin', { inputs: check });
      assert.equal(checked.result, 'Succeeded', checked.message);
      assert.equal(checked.outputs.PINNED_COUNT, '1');
    });
  }

  it('without the name, the same manifests fail to pin (what the template did before)', async () => {
    const ref = `contosostaging.azurecr.io/shop/api@${digestOf('staging')}`;
    const run = await job.run('DigestPin', { inputs: { files: 'deploy/api/*.yaml', images: ref, mode: 'pin' } });
    assert.equal(run.result, 'Failed');
    assert.match(run.message, /IMAGE_NOT_MATCHED/);
  });
});
