import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExpansionError } from './expander/errors';
import type { ValueMap } from './expander/values';
import { isMap } from './expander/values';
import {
  SCANNER,
  TEMPLATES_RESOURCE,
  check,
  deploymentWith,
  expand,
  extending,
  inputs,
  jobsOf,
  platform,
  releaseParameters,
  serviceRepo,
  step,
  stepId,
  stepsOf,
  templateRepoCopy,
} from './harness';

// What the reviewed fixes promise, proven on the expanded pipelines: sign-in, pin names,
// scan results, evidence names, Helm gate, and rollback through the platform pipeline.

const DIGEST = `sha256:${'c'.repeat(64)}`;

/** multi-service.yml included directly, on the environments these tests name. */
function stagesPipeline(parameters: ValueMap): ValueMap {
  return {
    trigger: 'none',
    resources: TEMPLATES_RESOURCE,
    stages: [
      {
        template: 'templates/multi-service.yml@templates',
        parameters: { allowedEnvironments: ['staging', 'production'], ...parameters },
      },
    ],
  };
}

function expanded(pipeline: ValueMap, templatesRoot?: string) {
  const repo = serviceRepo(pipeline);
  return check(expand(repo.file, repo.root, templatesRoot));
}

function clean(pipeline: ValueMap, templatesRoot?: string) {
  const result = expanded(pipeline, templatesRoot);
  assert.deepEqual(result.schemaProblems, []);
  assert.deepEqual(result.referenceProblems, []);
  return result;
}

const base = releaseParameters;

describe('templates: the fixes a review asked for', function () {
  this.timeout(120_000);

  it('one set of manifests naming the build registry image is pinned to each environment registry', () => {
    const result = clean(extending(base()));
    for (const [stage, registry] of [
      ['env_staging', 'contosostaging.azurecr.io'],
      ['env_production', 'contosoproduction.azurecr.io'],
    ] as const) {
      const deploy = jobsOf(result.pipeline, stage)[0]!;
      assert.equal(inputs(step(deploy, 'pin'))['images'], 'contosobuild.azurecr.io/shop/api=$(promote.IMAGE_REF)');
      assert.equal(inputs(step(deploy, 'pin_check'))['images'], '$(promote.IMAGE_REF)');
      assert.equal(inputs(step(deploy, 'pin_check'))['allowedRegistries'], registry);
    }
  });

  it('capture and lock sign in with the ARM connection when it is given, else with the Docker Registry connection', () => {
    const withArm = clean(extending(base({ buildAzureSubscription: 'arm-build' })));
    const build = jobsOf(withArm.pipeline, 'Build')[0]!;
    for (const name of ['capture', 'lock']) {
      assert.equal(inputs(step(build, name))['connectionType'], 'azureRM', name);
      assert.equal(inputs(step(build, name))['azureSubscription'], 'arm-build', name);
      assert.equal(inputs(step(build, name))['dockerRegistryServiceConnection'], undefined, name);
    }
    const without = clean(extending(base()));
    const capture = inputs(step(jobsOf(without.pipeline, 'Build')[0]!, 'capture'));
    assert.equal(capture['connectionType'], 'dockerRegistry');
    assert.equal(capture['dockerRegistryServiceConnection'], 'acr-build');
  });

  it('evidence names the tag with the digest, signs in with ARM where the environment has it, and a stage rerun gets its own artifact', () => {
    const result = clean(extending(base()));
    const prod = jobsOf(result.pipeline, 'env_production').find((j) => j['job'] === 'evidence')!;
    const e = inputs(step(prod, 'evidence_pay_ments'));
    assert.equal(
      e['image'],
      'contosoproduction.azurecr.io/shop/pay-ments:$(RELEASE_TAG_pay_ments)@$(DEPLOYED_pay_ments)',
    );
    assert.equal(e['connectionType'], 'azureRM');
    assert.equal(e['azureSubscription'], 'arm-production');
    assert.equal(e['publishArtifact'], 'evidence_production_pay_ments_$(System.StageAttempt)_$(System.JobAttempt)');
    assert.equal(e['scanStatus'], 'unknown', 'without scan steps the declared default, which verify does not trust');
    const staging = jobsOf(result.pipeline, 'env_staging').find((j) => j['job'] === 'evidence')!;
    assert.equal(inputs(step(staging, 'evidence_api'))['connectionType'], 'dockerRegistry');
  });

  it('runs the platform scan steps on the captured digest and records what they found, in every environment', () => {
    const result = clean(stagesPipeline(base({ scanSteps: [SCANNER] })));
    const build = jobsOf(result.pipeline, 'Build')[1]!;
    assert.deepEqual(stepsOf(build).slice(-4).map(stepId), ['scan_image', 'Scan', 'scan', 'lock']);
    assert.equal(
      isMap(step(build, 'scan_image')['env']) && (step(build, 'scan_image')['env'] as ValueMap)['IMAGE'],
      '$(capture.IMAGE_REF)',
    );
    for (const stage of ['env_staging', 'env_production']) {
      const evidence = jobsOf(result.pipeline, stage).find((j) => j['job'] === 'evidence')!;
      assert.equal(inputs(step(evidence, 'evidence_pay_ments'))['scanStatus'], '$(SCAN_STATUS_pay_ments)');
      assert.ok(
        JSON.stringify(evidence['variables']).includes(
          "stageDependencies.Build.build_pay_ments.outputs['scan.SCAN_STATUS']",
        ),
        JSON.stringify(evidence['variables']),
      );
    }
  });

  it('a misspelt scan status step is caught', () => {
    const root = templateRepoCopy();
    const path = join(root, 'templates', 'scan-digest.yml');
    writeFileSync(path, readFileSync(path, 'utf8').replace('  name: scan\n', '  name: scna\n'));
    const result = expanded(stagesPipeline(base({ scanSteps: [SCANNER] })), root);
    assert.ok(
      result.referenceProblems.some(
        (p) => p.includes("outputs['scan.SCAN_STATUS']") && p.includes('no step named scan'),
      ),
      result.referenceProblems.join('\n'),
    );
  });

  it('a scan status declared outside passed, warned, failed, unknown is refused', () => {
    const repo = serviceRepo(stagesPipeline(base({ scanStatus: '$(MY_STATUS)' })));
    assert.throws(
      () => expand(repo.file, repo.root),
      (e: unknown) =>
        e instanceof ExpansionError && e.message.includes('multi-service.yml') && e.message.includes('scanStatus'),
    );
  });

  it('the service-facing pipeline takes no scan status and no scan steps', () => {
    const extras: ValueMap[] = [{ scanStatus: 'passed' }, { scanSteps: [SCANNER] }];
    for (const extra of extras) {
      const repo = serviceRepo(extending(base(extra)));
      assert.throws(
        () => expand(repo.file, repo.root),
        (e: unknown) =>
          e instanceof ExpansionError && e.message.includes('templates/pipeline.yml: unexpected parameter'),
      );
    }
  });

  it('a stepList argument that is not a list of steps is refused', () => {
    const repo = serviceRepo(stagesPipeline(base({ scanSteps: [{ displayName: 'no step here' }] })));
    assert.throws(
      () => expand(repo.file, repo.root),
      (e: unknown) => e instanceof ExpansionError && e.message.includes('scanSteps: item 0 is not a step'),
    );
  });

  it('helm deploys render the chart and check every image is pinned before the upgrade', () => {
    const result = clean(extending(base()));
    const deploy = jobsOf(result.pipeline, 'env_production')[1]!;
    const names = stepsOf(deploy).map(stepId);
    assert.deepEqual(names.slice(-4), ['helm_render', 'pin_check', 'HelmDeploy@0', 'deployed']);
    const render = step(deploy, 'helm_render');
    const env = render['env'];
    assert.ok(isMap(env));
    assert.equal(
      env['HELM_ARGUMENTS'],
      inputs(step(deploy, 'HelmDeploy@0'))['arguments'],
      'the check sees what the upgrade applies',
    );
    const check = inputs(step(deploy, 'pin_check'));
    assert.equal(check['files'], env['RENDERED']);
    assert.equal(check['mode'], 'check');
    assert.equal(check['images'], '$(promote.IMAGE_REF)');
    assert.equal(check['allowedRegistries'], 'contosoproduction.azurecr.io');
  });
});

describe('templates: rollback', function () {
  this.timeout(120_000);

  it('with only azureSubscription, every registry step signs in with it, before and after the approval', () => {
    const deploy = clean(
      deploymentWith('rollback-to-digest.yml', {
        name: 'api',
        image: `contosoprod.azurecr.io/shop/api@${DIGEST}`,
        environment: 'production',
        azureSubscription: 'arm-prod',
        artifactName: 'evidence_rollback_production_api',
        deploy: {
          method: 'containerApps',
          azureSubscription: 'arm-prod',
          resourceGroup: 'rg',
          containerAppName: 'api',
        },
      }),
    );
    const job = jobsOf(deploy.pipeline, 'Release')[0]!;
    for (const name of ['rollback', 'rollback_verify', 'rollback_evidence']) {
      assert.equal(inputs(step(job, name))['connectionType'], 'azureRM', name);
      assert.equal(inputs(step(job, name))['azureSubscription'], 'arm-prod', name);
    }
    assert.equal(
      inputs(step(job, 'rollback_evidence'))['scanStatus'],
      'unknown',
      'no scan ran in this job: unknown, which verification does not trust',
    );
    const verify = clean({
      trigger: 'none',
      resources: TEMPLATES_RESOURCE,
      stages: [
        {
          stage: 'Verify',
          jobs: [
            {
              job: 'verify',
              steps: [
                {
                  template: 'templates/rollback-verify.yml@templates',
                  parameters: {
                    name: 'api',
                    image: `contosoprod.azurecr.io/shop/api@${DIGEST}`,
                    environment: 'production',
                    azureSubscription: 'arm-prod',
                  },
                },
              ],
            },
          ],
        },
      ],
    });
    const steps = jobsOf(verify.pipeline, 'Verify')[0]!;
    for (const name of ['rollback', 'rollback_verify'])
      assert.equal(inputs(step(steps, name))['connectionType'], 'azureRM', name);
  });

  it('rolls several services back in one environment, scanning each again with the platform scan steps before the approval', () => {
    const root = platform({ scanSteps: [SCANNER] });
    const release = clean(extending(base()), root);
    assert.ok(
      stepsOf(jobsOf(release.pipeline, 'Build')[0]!).some((s) => s['name'] === 'scan'),
      'the release scans',
    );
    const result = clean(
      extending(base({ rollback: { environment: 'staging', digests: { 'pay-ments': DIGEST, web: DIGEST } } })),
      root,
    );
    const verify = jobsOf(result.pipeline, 'rollback_verify');
    assert.deepEqual(
      verify.map((j) => j['job']),
      ['verify_pay_ments', 'verify_web'],
    );
    const order = stepsOf(verify[0]!).map(stepId);
    assert.ok(order.indexOf('rollback_verify') < order.indexOf('scan'), order.join(', '));
    for (const service of ['pay_ments', 'web']) {
      const deploy = jobsOf(result.pipeline, `rollback_staging_${service}`)[0]!;
      assert.equal(deploy['deployment'], `rollback_${service}`);
      assert.equal(inputs(step(deploy, 'rollback_evidence'))['scanStatus'], '$(ROLLBACK_SCAN_STATUS)');
    }
  });

  it('pipeline.yml holds the platform scan steps once, for releases and rollbacks', () => {
    const text = readFileSync(join(templateRepoCopy(), 'templates', 'pipeline.yml'), 'utf8');
    assert.equal(text.split('scanSteps:').length, 2, 'one scanSteps in pipeline.yml');
  });
});
