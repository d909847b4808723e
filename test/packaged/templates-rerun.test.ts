import assert from 'node:assert/strict';
import type { AcrGround } from '../../lab/acr/ground';
import { acrGroundFor } from '../../lab/acr/ground';
import type { ServiceConnection } from '../../lab/agent';
import { AgentJob, expandMacros } from '../../lab/agent';
import { secretConnection } from '../../lab/azurerm';
import type { TestGround } from '../../lab/ground';
import { testGround } from '../../lab/ground';
import { inspectRawAsync, pushAsync, sha256Hex } from '../../lab/images';
import { failedWith, succeeded } from '../../lab/outcome';
import type { ValueMap } from '../templates/expander/values';
import { agentInputs, expand, extending, inputs, jobsOf, serviceRepo, step } from '../templates/harness';

// "Rerun failed jobs" after the lock, with the packaged tasks and the inputs the expanded
// pipeline.yml gives them, against ACR fronts that refuse writes to what is locked as ACR does.
// The build job pushes a tag unique per attempt ($(Build.BuildId)-$(System.JobAttempt)), so its
// rerun never pushes onto the tag the failed attempt locked; the deploy job's rerun promotes the
// same digest to the same locked tag, which DigestPromote@1 treats as done, while other bytes for
// that tag are refused.

describe('templates: a rerun after the lock (packaged tasks, ACR fronts)', function () {
  this.timeout(180_000);
  let g: TestGround;
  let build: AcrGround;
  let staging: AcrGround;
  let pipeline: ValueMap;
  const jobs: AgentJob[] = [];

  const connections = (): Record<string, ServiceConnection> => ({
    'arm-build': secretConnection(build),
    'arm-staging': secretConnection(staging),
  });
  const agentJob = (variables: Record<string, string>): AgentJob => {
    const job = new AgentJob({ variables, connections: connections(), hostEnv: g.hostEnv });
    jobs.push(job);
    return job;
  };

  before(async () => {
    g = await testGround();
    [build, staging] = await Promise.all([acrGroundFor(g, 'acr-rerun-build'), acrGroundFor(g, 'acr-rerun-staging')]);
    const repo = serviceRepo(
      extending({
        buildRegistry: build.front.host,
        buildServiceConnection: 'acr-build',
        buildAzureSubscription: 'arm-build',
        services: [
          { name: 'api', repository: 'shop/api', deploy: { method: 'kubernetes', manifests: 'deploy/api/*.yaml' } },
        ],
        environments: [
          {
            name: 'staging',
            registry: staging.front.host,
            azureSubscription: 'arm-staging',
            deploy: { kubernetesServiceConnection: 'aks-staging' },
          },
        ],
      }),
    );
    pipeline = expand(repo.file, repo.root);
  });
  after(async () => {
    for (const job of jobs) job.dispose();
    for (const acr of [build, staging]) await acr.close();
  });

  /** One attempt of the build job: the push Docker@2 makes (skopeo here), then capture and lock as the template has them. */
  async function buildAttempt(buildId: string, attempt: string, image: 'amd64' | 'arm64') {
    const buildJob = jobsOf(pipeline, 'Build').find((j) => j['job'] === 'build_api')!;
    const job = agentJob({ 'Build.BuildId': buildId, 'System.JobAttempt': attempt });
    const push = inputs(step(buildJob, 'Docker@2'));
    const tag = expandMacros(String(push['tags']), (name) => job.variable(name));
    const pushed = await pushAsync(
      g.layout,
      image,
      `${build.front.host}/${String(push['repository'])}:${tag}`,
      build.access,
      false,
    );
    const capture = await job.run('DigestCapture', { name: 'capture', inputs: agentInputs(step(buildJob, 'capture')) });
    const lock =
      pushed.code === 0 && capture.result === 'Succeeded'
        ? await job.run('DigestLock', { name: 'lock', inputs: agentInputs(step(buildJob, 'lock')) })
        : undefined;
    return { tag, pushed, capture, lock };
  }

  it('the rerun of a build job whose first attempt was locked pushes its own tag, and captures and locks it', async () => {
    const first = await buildAttempt('4711', '1', 'amd64');
    assert.equal(first.tag, '4711-1');
    succeeded(first.capture);
    succeeded(first.lock!);
    assert.equal(build.front.tagAttributes('shop/api', first.tag)?.writeEnabled, false);

    // A later step of attempt 1 failed; the rerun builds again (a rebuild is not byte for byte).
    // Onto the tag attempt 1 locked, as a tag without the attempt would be, the push is refused.
    const onto = await pushAsync(g.layout, 'arm64', `${build.front.host}/shop/api:${first.tag}`, build.access, false);
    assert.notEqual(onto.code, 0, 'the locked tag refuses the push');
    assert.match(onto.stderr, /disallowed|405|REGISTRY_DISALLOWED_OPERATION/i);

    const second = await buildAttempt('4711', '2', 'arm64');
    assert.equal(second.tag, '4711-2');
    assert.equal(second.pushed.code, 0, second.pushed.stderr);
    succeeded(second.capture);
    succeeded(second.lock!);
    assert.equal(second.capture.outputs.IMAGE_TAG, second.tag);
    assert.notEqual(second.capture.outputs.IMAGE_DIGEST, first.capture.outputs.IMAGE_DIGEST);
    assert.equal(
      sha256Hex(await inspectRawAsync(`${build.front.host}/shop/api:${first.tag}`, build.access)),
      first.capture.outputs.IMAGE_DIGEST,
      'attempt 1 keeps its tag',
    );
  });

  it('the rerun of a deploy job promotes the same digest to the same locked tag as done; other bytes for that tag are refused', async () => {
    const built = await buildAttempt('4712', '1', 'amd64');
    succeeded(built.lock!);
    const deploy = jobsOf(pipeline, 'env_staging').find((j) => j['deployment'] === 'deploy_api')!;
    const promoteInputs = agentInputs(step(deploy, 'promote'));
    assert.equal(promoteInputs['target'], `${staging.front.host}/shop/api:$(RELEASE_TAG)`);
    // What the deploy job's variables hold: the build job's outputs (stageDependencies.Build.build_api...).
    const variables = {
      SOURCE_IMAGE_REF: built.capture.outputs.IMAGE_REF!,
      RELEASE_TAG: built.capture.outputs.IMAGE_TAG!,
    };

    const first = await agentJob({ ...variables, 'System.JobAttempt': '1' }).run('DigestPromote', {
      name: 'promote',
      inputs: promoteInputs,
    });
    succeeded(first);
    assert.equal(first.outputs.IMAGE_DIGEST, built.capture.outputs.IMAGE_DIGEST);
    assert.equal(
      staging.front.tagAttributes('shop/api', built.tag)?.writeEnabled,
      false,
      'lockAfterPromote locked the tag',
    );

    // The deploy step failed; "Rerun failed jobs" runs the job again with the same build outputs.
    const rerun = await agentJob({ ...variables, 'System.JobAttempt': '2' }).run('DigestPromote', {
      name: 'promote',
      inputs: promoteInputs,
    });
    succeeded(rerun);
    assert.equal(rerun.outputs.IMAGE_DIGEST, first.outputs.IMAGE_DIGEST);
    assert.equal(rerun.outputs.PROMOTED_BYTES, '0');
    assert.equal(
      sha256Hex(await inspectRawAsync(`${staging.front.host}/shop/api:${built.tag}`, staging.access)),
      built.capture.outputs.IMAGE_DIGEST,
    );

    // Other bytes under the same tag (the build stage rebuilt under the old tag): refused, tag unchanged.
    const other = await pushAsync(g.layout, 'arm64', `${build.front.host}/shop/other:1`, build.access);
    assert.equal(other.code, 0);
    const otherRef = `${build.front.host}/shop/other@${sha256Hex(await inspectRawAsync(`${build.front.host}/shop/other:1`, build.access))}`;
    const conflict = await agentJob({
      SOURCE_IMAGE_REF: otherRef,
      RELEASE_TAG: built.tag,
      'System.JobAttempt': '3',
    }).run('DigestPromote', { name: 'promote', inputs: promoteInputs });
    failedWith(conflict, 'TAG_CONFLICT', built.tag);
    assert.equal(
      sha256Hex(await inspectRawAsync(`${staging.front.host}/shop/api:${built.tag}`, staging.access)),
      built.capture.outputs.IMAGE_DIGEST,
    );
  });
});
