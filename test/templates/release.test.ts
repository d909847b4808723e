import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { ROOT } from '../support/paths';
import { ExpansionError } from './expander/errors';
import { Value, ValueMap, isMap } from './expander/values';
import { TEMPLATES_RESOURCE, check, deploymentWith, environments, expand, extending, jobsOf, serviceRepo, services, templateRepoCopy } from './harness';
import { readFileSync, writeFileSync } from 'node:fs';

// What the reviewed fixes promise, proven on the expanded pipelines: sign-in, pin names,
// scan results, evidence names, Helm gate, and rollback through the platform pipeline.

const DIGEST = 'sha256:' + 'c'.repeat(64);

/** A platform's scan step: what scan-digest.yml asks of it. */
const SCANNER: ValueMap = {
  bash: 'trivy image --exit-code 1 "$SCAN_IMAGE" && echo "##vso[task.setvariable variable=SCAN_STATUS]passed"',
  displayName: 'Scan',
};

function stagesPipeline(parameters: ValueMap): ValueMap {
  return { trigger: 'none', resources: TEMPLATES_RESOURCE, stages: [{ template: 'templates/multi-service.yml@templates', parameters }] };
}

function expanded(pipeline: ValueMap, templatesRoot?: string) {
  const repo = serviceRepo(pipeline);
  return check(expand(repo.file, repo.root, templatesRoot));
}

function clean(pipeline: ValueMap) {
  const result = expanded(pipeline);
  assert.deepEqual(result.schemaProblems, []);
  assert.deepEqual(result.referenceProblems, []);
  return result;
}

function stepsOf(job: ValueMap): ValueMap[] {
  let list: Value | undefined = job['steps'];
  const strategy = job['strategy'];
  if (isMap(strategy) && isMap(strategy['runOnce']) && isMap(strategy['runOnce']['deploy'])) list = strategy['runOnce']['deploy']['steps'];
  assert.ok(Array.isArray(list));
  return list.filter(isMap);
}

function step(job: ValueMap, name: string): ValueMap {
  const found = stepsOf(job).find((s) => s['name'] === name || s['task'] === name);
  assert.ok(found, `${String(job['job'] ?? job['deployment'])} has a step ${name}: ${stepsOf(job).map((s) => s['name'] ?? s['task']).join(', ')}`);
  return found;
}

function inputs(s: ValueMap): ValueMap {
  assert.ok(isMap(s['inputs']));
  return s['inputs'];
}

const base = (extra: ValueMap = {}): ValueMap => ({
  buildRegistry: 'contosobuild.azurecr.io',
  buildServiceConnection: 'acr-build',
  services: services(['api', 'pay-ments', 'web']),
  environments: environments(['staging', 'production']),
  ...extra,
});

describe('templates: the fixes a review asked for', function () {
  this.timeout(120_000);

  it('one set of manifests naming the build registry image is pinned to each environment registry', () => {
    const result = clean(extending(base()));
    for (const [stage, registry] of [['env_staging', 'contosostaging.azurecr.io'], ['env_production', 'contosoproduction.azurecr.io']] as const) {
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
    assert.equal(e['image'], 'contosoproduction.azurecr.io/shop/pay-ments:$(Build.BuildId)@$(IMAGE_DIGEST_pay_ments)');
    assert.equal(e['connectionType'], 'azureRM');
    assert.equal(e['azureSubscription'], 'arm-production');
    assert.equal(e['publishArtifact'], 'evidence_production_pay_ments_$(System.StageAttempt)');
    assert.equal(e['scanStatus'], 'unknown', 'without scan steps the declared default, which verify does not trust');
    const staging = jobsOf(result.pipeline, 'env_staging').find((j) => j['job'] === 'evidence')!;
    assert.equal(inputs(step(staging, 'evidence_api'))['connectionType'], 'dockerRegistry');
  });

  it('runs the platform scan steps on the captured digest and records what they found, in every environment', () => {
    const result = clean(stagesPipeline(base({ scanSteps: [SCANNER] })));
    const build = jobsOf(result.pipeline, 'Build')[1]!;
    assert.deepEqual(
      stepsOf(build).slice(-3).map((s) => s['name'] ?? s['displayName']),
      ['scan_image', 'Scan', 'scan'],
    );
    assert.equal(isMap(step(build, 'scan_image')['env']) && (step(build, 'scan_image')['env'] as ValueMap)['IMAGE'], '$(capture.IMAGE_REF)');
    for (const stage of ['env_staging', 'env_production']) {
      const evidence = jobsOf(result.pipeline, stage).find((j) => j['job'] === 'evidence')!;
      assert.equal(inputs(step(evidence, 'evidence_pay_ments'))['scanStatus'], '$(SCAN_STATUS_pay_ments)');
      assert.ok(
        JSON.stringify(evidence['variables']).includes("stageDependencies.Build.build_pay_ments.outputs['scan.SCAN_STATUS']"),
        JSON.stringify(evidence['variables']),
      );
    }
  });

  it('a misspelt scan status step is caught', () => {
    const root = templateRepoCopy();
    const path = join(root, 'templates', 'scan-digest.yml');
    writeFileSync(path, readFileSync(path, 'utf8').replace('  name: scan\n', '  name: scna\n'));
    const result = expanded(stagesPipeline(base({ scanSteps: [SCANNER] })), root);
    assert.ok(result.referenceProblems.some((p) => p.includes("outputs['scan.SCAN_STATUS']") && p.includes('no step named scan')), result.referenceProblems.join('\n'));
  });

  it('a scan status declared outside passed, warned, failed, unknown is refused', () => {
    const repo = serviceRepo(stagesPipeline(base({ scanStatus: '$(MY_STATUS)' })));
    assert.throws(() => expand(repo.file, repo.root), (e: unknown) => e instanceof ExpansionError && e.message.includes('multi-service.yml') && e.message.includes('scanStatus'));
  });

  it('the service-facing pipeline takes no scan status and no scan steps', () => {
    const extras: ValueMap[] = [{ scanStatus: 'passed' }, { scanSteps: [SCANNER] }];
    for (const extra of extras) {
      const repo = serviceRepo(extending(base(extra)));
      assert.throws(() => expand(repo.file, repo.root), (e: unknown) => e instanceof ExpansionError && e.message.includes('templates/pipeline.yml: unexpected parameter'));
    }
  });

  it('a stepList argument that is not a list of steps is refused', () => {
    const repo = serviceRepo(stagesPipeline(base({ scanSteps: [{ displayName: 'no step here' }] })));
    assert.throws(() => expand(repo.file, repo.root), (e: unknown) => e instanceof ExpansionError && e.message.includes('scanSteps: item 0 is not a step'));
  });

  it('helm deploys render the chart and check every image is pinned before the upgrade', () => {
    const result = clean(extending(base()));
    const deploy = jobsOf(result.pipeline, 'env_production')[1]!;
    const names = stepsOf(deploy).map((s) => s['name'] ?? s['task']);
    assert.deepEqual(names.slice(-3), ['helm_render', 'pin_check', 'HelmDeploy@0']);
    const render = step(deploy, 'helm_render');
    const env = render['env'];
    assert.ok(isMap(env));
    assert.equal(env['HELM_ARGUMENTS'], inputs(step(deploy, 'HelmDeploy@0'))['arguments'], 'the check sees what the upgrade applies');
    const check = inputs(step(deploy, 'pin_check'));
    assert.equal(check['files'], env['RENDERED']);
    assert.equal(check['mode'], 'check');
    assert.equal(check['images'], '$(promote.IMAGE_REF)');
    assert.equal(check['allowedRegistries'], 'contosoproduction.azurecr.io');
  });
});

describe('templates: rollback', function () {
  this.timeout(120_000);

  it('with only azureSubscription, every registry step signs in with it', () => {
    const pipeline = deploymentWith('rollback-to-digest.yml', {
      name: 'api',
      image: `contosoprod.azurecr.io/shop/api@${DIGEST}`,
      environment: 'production',
      azureSubscription: 'arm-prod',
      deploy: { method: 'containerApps', azureSubscription: 'arm-prod', resourceGroup: 'rg', containerAppName: 'api' },
    });
    const result = clean(pipeline);
    const job = jobsOf(result.pipeline, 'Release')[0]!;
    for (const name of ['rollback', 'rollback_verify', 'rollback_evidence']) {
      assert.equal(inputs(step(job, name))['connectionType'], 'azureRM', name);
      assert.equal(inputs(step(job, name))['azureSubscription'], 'arm-prod', name);
    }
    assert.equal(inputs(step(job, 'rollback_evidence'))['scanStatus'], undefined, 'no scan status is declared for the rollback');
  });

  it('the service team rollback pipeline extends pipeline.yml, expands, validates and every reference resolves', () => {
    const examples = join(ROOT, 'examples');
    const result = check(expand(join(examples, 'rollback-pipeline.yml'), examples));
    assert.deepEqual(result.schemaProblems, []);
    assert.deepEqual(result.referenceProblems, []);
    const stages = result.pipeline['stages'];
    assert.ok(Array.isArray(stages) && stages.length === 1 && isMap(stages[0]) && stages[0]['stage'] === 'rollback_production', JSON.stringify(stages));
    const [job, ...others] = jobsOf(result.pipeline, 'rollback_production');
    assert.equal(others.length, 0);
    assert.equal(job!['deployment'], 'rollback_orders_api');
    assert.equal(job!['environment'], 'production');
    const names = stepsOf(job!).map((s) => s['name'] ?? s['task'] ?? Object.keys(s)[0]);
    assert.deepEqual(names, ['checkout', 'rollback', 'rollback_verify', 'pin', 'pin_check', 'KubernetesManifest@1', 'rollback_evidence']);
    assert.equal(inputs(step(job!, 'rollback'))['image'], 'contosoprod.azurecr.io/shop/orders-api@sha256:' + '0'.repeat(64));
    assert.equal(inputs(step(job!, 'rollback'))['connectionType'], 'azureRM');
    assert.equal(inputs(step(job!, 'pin'))['images'], 'contosobuild.azurecr.io/shop/orders-api=$(rollback.IMAGE_REF)');
    assert.equal(inputs(step(job!, 'pin_check'))['allowedRegistries'], 'contosoprod.azurecr.io');
  });

  it('rolls several services back in one environment, scanning each again with the platform scan steps', () => {
    const root = templateRepoCopy();
    const path = join(root, 'templates', 'pipeline.yml');
    const text = readFileSync(path, 'utf8');
    assert.equal(text.split('scanSteps: []').length, 3, 'pipeline.yml holds the platform scan steps for releases and rollbacks');
    writeFileSync(path, text.split('scanSteps: []').join(`scanSteps:\n      - bash: ${JSON.stringify(SCANNER['bash'])}\n        displayName: Scan`));
    const release = expanded(extending(base()), root);
    assert.deepEqual(release.schemaProblems, []);
    assert.deepEqual(release.referenceProblems, []);
    assert.ok(stepsOf(jobsOf(release.pipeline, 'Build')[0]!).some((s) => s['name'] === 'scan'), 'the release scans');
    const result = expanded(extending(base({ rollback: { environment: 'staging', services: [{ name: 'pay-ments', digest: DIGEST }, { name: 'web', digest: DIGEST }] } })), root);
    assert.deepEqual(result.schemaProblems, []);
    assert.deepEqual(result.referenceProblems, []);
    const jobs = jobsOf(result.pipeline, 'rollback_staging');
    assert.deepEqual(jobs.map((j) => j['deployment']), ['rollback_pay_ments', 'rollback_web']);
    assert.equal(inputs(step(jobs[0]!, 'rollback_evidence'))['scanStatus'], '$(scan.SCAN_STATUS)');
    const order = stepsOf(jobs[0]!).map((s) => s['name'] ?? s['task'] ?? Object.keys(s)[0]);
    assert.ok(order.indexOf('rollback_verify') < order.indexOf('scan') && order.indexOf('scan') < order.indexOf('pin_check'), order.join(', '));
  });
});
