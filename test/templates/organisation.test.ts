import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandMacros } from '../../lab/agent';
import { ROOT } from '../../lab/paths';
import { ExpansionError } from './expander/errors';
import type { Value, ValueMap } from './expander/values';
import { isMap } from './expander/values';
import type { Checked } from './harness';
import {
  SCANNER,
  TEMPLATES_RESOURCE,
  check,
  compileErrors,
  environments,
  expand,
  extending,
  inputs,
  jobsOf,
  platform,
  releaseParameters,
  serviceRepo,
  services,
  step,
  stepId,
  stepsOf,
} from './harness';

// Issue 15: what would fail or mislead on a real Azure DevOps organisation, proven on the
// expanded pipelines. Compile errors are what the service reports for the keys the templates
// raise them with ("Unexpected value '<message>'"): the schema check must fail, and the
// message must name the mistake.

const DIGEST = `sha256:${'c'.repeat(64)}`;
const OTHER = `sha256:${'0123456789abcdef'.repeat(4)}`;

const base = releaseParameters;

function expanded(pipeline: ValueMap, templatesRoot?: string, runtime?: ValueMap): Checked {
  const repo = serviceRepo(pipeline);
  return check(expand(repo.file, repo.root, templatesRoot, runtime));
}

function clean(pipeline: ValueMap, templatesRoot?: string): Checked {
  const result = expanded(pipeline, templatesRoot);
  assert.deepEqual(result.schemaProblems, []);
  assert.deepEqual(result.referenceProblems, []);
  assert.deepEqual(compileErrors(result.pipeline), []);
  return result;
}

/** The pipeline fails to compile, and one of its errors says all of `words`. */
function refused(result: Checked, ...words: string[]): string {
  const errors = compileErrors(result.pipeline);
  const found = errors.find((e) => words.every((w) => e.includes(w)));
  assert.ok(found, `no compile error says ${words.join(' + ')}:\n${errors.join('\n') || '(none)'}`);
  // The schema check stops at its first problem, which may be another of the errors raised.
  assert.notDeepEqual(result.schemaProblems, [], 'the schema check (what the service validates) refuses the pipeline');
  return found;
}

function stageNames(pipeline: ValueMap): string[] {
  const stages = pipeline['stages'];
  assert.ok(Array.isArray(stages));
  return stages.filter(isMap).map((s) => String(s['stage']));
}

function stage(pipeline: ValueMap, name: string): ValueMap {
  const stages = pipeline['stages'];
  assert.ok(Array.isArray(stages));
  const found = stages.filter(isMap).find((s) => s['stage'] === name);
  assert.ok(found, `no stage ${name}: ${stageNames(pipeline).join(', ')}`);
  return found;
}

function job(pipeline: ValueMap, stageName: string, name: string): ValueMap {
  const found = jobsOf(pipeline, stageName).find((j) => j['job'] === name || j['deployment'] === name);
  assert.ok(found, `stage ${stageName} has no job ${name}`);
  return found;
}

function variable(j: ValueMap, name: string): ValueMap {
  const list = j['variables'];
  assert.ok(Array.isArray(list));
  const found = list.filter(isMap).find((v) => v['name'] === name);
  assert.ok(found, `${String(j['job'] ?? j['deployment'])} has no variable ${name}`);
  return found;
}

function allDeploymentJobs(pipeline: ValueMap): ValueMap[] {
  return stageNames(pipeline)
    .flatMap((s) => jobsOf(pipeline, s))
    .filter((j) => typeof j['deployment'] === 'string');
}

function withEnvironment(name: string, change: (env: ValueMap) => void): ValueMap {
  const envs = environments(['staging', 'production']);
  const env = envs.find((e) => e['name'] === name)!;
  change(env);
  return base({ environments: envs });
}

function withService(name: string, change: (service: ValueMap) => void): ValueMap {
  const list = services(['api', 'pay-ments', 'web']);
  change(list.find((s) => s['name'] === name)!);
  return base({ services: list });
}

interface ScriptRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The file the step uploaded as a summary (##vso[task.uploadsummary]), read back. */
  summary?: string;
}

/**
 * Runs a bash step of the expanded pipeline as the agent would: its `env` with `$(macros)`
 * expanded from `variables` (what earlier steps and the job's variables hold), the script text
 * unchanged, on an agent whose Agent.TempDirectory is a fresh folder.
 */
function runBash(
  s: ValueMap,
  variables: Record<string, string>,
  host: { path?: string; env?: Record<string, string> } = {},
): ScriptRun {
  const script = s['bash'] ?? (isMap(s['inputs']) ? s['inputs']['inlineScript'] : undefined);
  assert.equal(typeof script, 'string', `step ${stepId(s)} is a bash script`);
  const temp = mkdtempSync(join(tmpdir(), 'digest-release-agent-temp-'));
  const env: Record<string, string> = {
    ...host.env,
    PATH: `${host.path ? `${host.path}:` : ''}${process.env.PATH ?? '/usr/bin:/bin'}`,
    AGENT_TEMPDIRECTORY: temp,
  };
  const lookup = (name: string): string | undefined => (name === 'Agent.TempDirectory' ? temp : variables[name]);
  for (const [key, value] of Object.entries(isMap(s['env']) ? s['env'] : {}))
    env[key] = expandMacros(String(value), lookup);
  const run = spawnSync('bash', ['-c', String(script)], { env, encoding: 'utf8' });
  const uploaded = /##vso\[task\.uploadsummary\](.*)/.exec(run.stdout)?.[1];
  return {
    status: run.status,
    stdout: run.stdout,
    stderr: run.stderr,
    ...(uploaded ? { summary: readFileSync(uploaded.trim(), 'utf8') } : {}),
  };
}

describe("templates on a real organisation: environments are the platform's", function () {
  this.timeout(120_000);

  it('an environment name the platform did not create fails to compile, naming it and the allowed ones', () => {
    const result = expanded(extending(base({ environments: environments(['staging', 'prodution']) })));
    refused(
      result,
      'environment prodution',
      'prodution is not one the platform allows (staging, production)',
      'no approvals',
    );
  });

  it('so does a typo in the Azure Pipelines environment given apart from the name', () => {
    const result = expanded(extending(withEnvironment('production', (env) => (env['environment'] = 'producton'))));
    refused(
      result,
      'environment production',
      'the Azure Pipelines environment producton is not one the platform allows',
    );
  });

  it('an environment resource (production.shop) fails to compile: it would change the output names every digest reference uses', () => {
    const result = expanded(
      extending(withEnvironment('production', (env) => (env['environment'] = 'production.shop'))),
      platform({ environments: ['staging', 'production.shop'] }),
    );
    refused(result, 'production.shop targets a resource inside an environment', 'output variable names');
  });

  it('an environment without a registry fails to compile', () => {
    const result = expanded(extending(withEnvironment('staging', (env) => delete env['registry'])));
    refused(result, 'environment staging has no registry');
  });

  it("the list is the platform's: a service pipeline cannot give its own", () => {
    const repo = serviceRepo(extending(base({ allowedEnvironments: ['anything'] })));
    assert.throws(
      () => expand(repo.file, repo.root),
      (e: unknown) =>
        e instanceof ExpansionError &&
        e.message.includes('templates/pipeline.yml: unexpected parameter allowedEnvironments'),
    );
  });

  it("the environments of the platform's list compile, and the shipped list is staging and production", () => {
    clean(extending(base()));
    const result = clean(
      extending(base({ environments: environments(['dev', 'prod']) })),
      platform({ environments: ['dev', 'prod'] }),
    );
    assert.deepEqual(stageNames(result.pipeline), ['Build', 'env_dev', 'env_prod']);
  });
});

describe('templates on a real organisation: reruns', function () {
  this.timeout(120_000);

  it('the build pushes a tag unique per job attempt, and every promotion and evidence uses the tag the build captured', () => {
    const result = clean(extending(base()));
    const build = job(result.pipeline, 'Build', 'build_api');
    for (const name of ['capture', 'lock'])
      assert.equal(
        inputs(step(build, name))['image'],
        'contosobuild.azurecr.io/shop/api:$(Build.BuildId)-$(System.JobAttempt)',
        name,
      );
    assert.equal(inputs(step(build, 'Docker@2'))['tags'], '$(Build.BuildId)-$(System.JobAttempt)');
    for (const env of ['staging', 'production']) {
      const deploy = job(result.pipeline, `env_${env}`, 'deploy_api');
      assert.deepEqual(variable(deploy, 'RELEASE_TAG'), {
        name: 'RELEASE_TAG',
        value: "$[ stageDependencies.Build.build_api.outputs['capture.IMAGE_TAG'] ]",
        readonly: 'true',
      });
      assert.equal(inputs(step(deploy, 'promote'))['target'], `contoso${env}.azurecr.io/shop/api:$(RELEASE_TAG)`);
      const evidence = job(result.pipeline, `env_${env}`, 'evidence');
      assert.equal(
        inputs(step(evidence, 'evidence_api'))['image'],
        `contoso${env}.azurecr.io/shop/api:$(RELEASE_TAG_api)@$(DEPLOYED_api)`,
      );
      assert.equal(
        variable(evidence, 'RELEASE_TAG_api')['value'],
        "$[ stageDependencies.Build.build_api.outputs['capture.IMAGE_TAG'] ]",
      );
    }
  });

  it('a tag that is not unique per attempt, with the lock, fails to compile; without the lock it is accepted', () => {
    const pipeline = (tag: string, lock: string, builder: string): ValueMap => ({
      trigger: 'none',
      resources: TEMPLATES_RESOURCE,
      jobs: [
        {
          job: 'build',
          steps: [
            {
              template: 'templates/build-with-digest.yml@templates',
              parameters: {
                name: 'api',
                registry: 'r.example',
                repository: 'api',
                dockerRegistryServiceConnection: 'c',
                tag,
                lock,
                builder,
              },
            },
          ],
        },
      ],
    });
    for (const builder of ['docker', 'buildx']) {
      refused(
        expanded(pipeline('$(Build.BuildNumber)', 'true', builder)),
        'service api',
        'the tag $(Build.BuildNumber) does not contain $(System.JobAttempt)',
        'registry refuses',
      );
      assert.deepEqual(compileErrors(expanded(pipeline('$(Build.BuildNumber)', 'false', builder)).pipeline), []);
      assert.deepEqual(compileErrors(expanded(pipeline('1.4.2-$(System.JobAttempt)', 'true', builder)).pipeline), []);
    }
  });

  it('the platform scan runs on the captured digest before the lock, so a digest that fails its scan is not locked', () => {
    const result = clean(extending(base()), platform({ scanSteps: [SCANNER] }));
    const names = stepsOf(job(result.pipeline, 'Build', 'build_api')).map(stepId);
    assert.deepEqual(names.slice(-5), ['capture', 'scan_image', 'Scan', 'scan', 'lock']);
  });
});

describe('templates on a real organisation: deploy settings are required at compile time', function () {
  this.timeout(120_000);

  const cases: Array<{ title: string; pipeline: () => ValueMap; words: string[] }> = [
    {
      title: "kubernetes without the environment's kubernetesServiceConnection",
      pipeline: () =>
        withEnvironment('production', (env) => delete (env['deploy'] as ValueMap)['kubernetesServiceConnection']),
      words: [
        'kubernetesServiceConnection is empty',
        'method kubernetes',
        'service api',
        'environment production',
        "the environment's deploy.kubernetesServiceConnection",
      ],
    },
    {
      title: "kubernetes without the service's manifests",
      pipeline: () => withService('api', (service) => delete (service['deploy'] as ValueMap)['manifests']),
      words: [
        'manifests is empty',
        'method kubernetes',
        'service api',
        'environment staging',
        "the service's deploy.manifests",
      ],
    },
    {
      title: "helm without the service's chartPath",
      pipeline: () => withService('pay-ments', (service) => delete (service['deploy'] as ValueMap)['chartPath']),
      words: ['chartPath is empty', 'method helm', 'service pay-ments', 'environment production'],
    },
    {
      title: "helm without the environment's kubernetesServiceConnection",
      pipeline: () =>
        withEnvironment('staging', (env) => delete (env['deploy'] as ValueMap)['kubernetesServiceConnection']),
      words: ['kubernetesServiceConnection is empty', 'method helm', 'service pay-ments', 'environment staging'],
    },
    {
      title: "Container Apps without the environment's resourceGroup",
      pipeline: () => withEnvironment('production', (env) => delete (env['deploy'] as ValueMap)['resourceGroup']),
      words: [
        'resourceGroup is empty',
        'method containerApps',
        'service web',
        'environment production',
        'creates a resource group and a public app',
      ],
    },
    {
      title: "Container Apps without the environment's azureSubscription",
      pipeline: () => withEnvironment('staging', (env) => delete (env['deploy'] as ValueMap)['azureSubscription']),
      words: ['azureSubscription is empty', 'method containerApps', 'service web', 'environment staging'],
    },
    {
      title: 'a service without a repository',
      pipeline: () => withService('web', (service) => delete service['repository']),
      words: ['service web has no repository'],
    },
  ];
  for (const c of cases) {
    it(`${c.title} fails to compile, naming the setting, the service and the environment`, () => {
      refused(expanded(extending(c.pipeline())), ...c.words);
    });
  }

  it('the same settings are required in rollback mode', () => {
    const pipeline = extending(
      withEnvironment('production', (env) => delete (env['deploy'] as ValueMap)['resourceGroup']),
    );
    (pipeline['extends'] as ValueMap & { parameters: ValueMap }).parameters['rollback'] = {
      environment: 'production',
      digests: { web: DIGEST },
    };
    refused(
      expanded(pipeline, platform({ scanSteps: [SCANNER] })),
      'resourceGroup is empty',
      'service web',
      'environment production',
    );
  });

  it('Container Apps: the app must exist in the resource group named, checked before AzureContainerApps@1 could create anything', () => {
    const result = clean(extending(base()));
    const deploy = job(result.pipeline, 'env_production', 'deploy_web');
    const names = stepsOf(deploy).map(stepId);
    assert.deepEqual(names.slice(names.indexOf('promote')), [
      'promote',
      'app_check',
      'AzureContainerApps@1',
      'deployed',
    ]);
    const check = step(deploy, 'app_check');
    assert.equal(check['task'], 'AzureCLI@2');
    assert.equal(inputs(check)['azureSubscription'], 'arm-production');
    assert.deepEqual(check['env'], { RESOURCE_GROUP: 'rg-production', CONTAINER_APP: 'web' });
    const aca = inputs(step(deploy, 'AzureContainerApps@1'));
    assert.equal(aca['resourceGroup'], 'rg-production');
    assert.equal(aca['containerAppName'], 'web');
  });

  it('the check fails, saying why, when Azure has no such app there, and passes when it has', () => {
    const result = clean(extending(base()));
    const check = step(job(result.pipeline, 'env_production', 'deploy_web'), 'app_check');
    // An `az` on the PATH that records its arguments and answers as Azure would.
    const bin = mkdtempSync(join(tmpdir(), 'digest-release-az-'));
    const log = join(bin, 'args');
    writeFileSync(
      join(bin, 'az'),
      `#!/bin/bash\nprintf '%s\\n' "$@" > '${log}'\nif [ "$AZ_ANSWER" = found ]; then echo /subscriptions/s/resourceGroups/rg-production/providers/Microsoft.App/containerApps/web; exit 0; fi\necho "ERROR: (ResourceNotFound) The Resource 'Microsoft.App/containerApps/web' under resource group 'rg-production' was not found." >&2\nexit 3\n`,
    );
    chmodSync(join(bin, 'az'), 0o755);
    const missing = runBash(check, {}, { path: bin, env: { AZ_ANSWER: 'missing' } });
    assert.equal(missing.status, 1);
    assert.match(missing.stdout, /ResourceNotFound/);
    assert.match(
      missing.stdout,
      /##vso\[task\.logissue type=error\]There is no Container App web in the resource group rg-production .*AzureContainerApps@1 would create one, with external ingress/,
    );
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), [
      'resource',
      'show',
      '--resource-group',
      'rg-production',
      '--name',
      'web',
      '--resource-type',
      'Microsoft.App/containerApps',
      '--query',
      'id',
      '--output',
      'tsv',
    ]);
    const found = runBash(check, {}, { path: bin, env: { AZ_ANSWER: 'found' } });
    assert.equal(found.status, 0, found.stdout + found.stderr);
    assert.match(
      found.stdout,
      /Deploying to \/subscriptions\/s\/resourceGroups\/rg-production\/providers\/Microsoft\.App\/containerApps\/web/,
    );
  });
});

describe('templates on a real organisation: rollback is verified before anyone approves it', function () {
  this.timeout(120_000);
  const examples = join(ROOT, 'examples');
  const rollbackRun = (digests: Value, environment = 'production'): ValueMap => ({
    mode: 'rollback',
    rollbackEnvironment: environment,
    rollbackDigests: digests,
  });

  it("the team's own pipeline, queued with mode rollback: a verify stage on no environment, then one stage per service naming service, environment and digest", () => {
    const templates = platform({ scanSteps: [SCANNER] });
    const result = check(
      expand(
        join(examples, 'azure-pipelines.yml'),
        examples,
        templates,
        rollbackRun({ 'orders-api': DIGEST, payments: OTHER }),
      ),
    );
    assert.deepEqual(result.schemaProblems, []);
    assert.deepEqual(result.referenceProblems, []);
    assert.deepEqual(compileErrors(result.pipeline), []);
    assert.deepEqual(stageNames(result.pipeline), [
      'rollback_verify',
      'rollback_production_orders_api',
      'rollback_production_payments',
    ]);

    const verify = stage(result.pipeline, 'rollback_verify');
    assert.deepEqual(verify['dependsOn'], []);
    const verifyJobs = jobsOf(result.pipeline, 'rollback_verify');
    assert.deepEqual(
      verifyJobs.map((j) => j['job']),
      ['verify_orders_api', 'verify_payments'],
    );
    assert.ok(
      verifyJobs.every((j) => j['deployment'] === undefined && j['environment'] === undefined),
      'the verify stage uses no environment, so no approval waits before it',
    );
    const orders = verifyJobs[0]!;
    assert.deepEqual(stepsOf(orders).map(stepId), [
      'checkout',
      'rollback',
      'rollback_verify',
      'scan_image',
      'Scan',
      'scan',
      'rollback_summary',
    ]);
    assert.equal(inputs(step(orders, 'rollback'))['image'], `contosoprod.azurecr.io/shop/orders-api@${DIGEST}`);
    assert.equal(inputs(step(orders, 'rollback_verify'))['mode'], 'verify');
    assert.equal(inputs(step(orders, 'rollback_verify'))['environment'], 'production');

    const deployStage = stage(result.pipeline, 'rollback_production_orders_api');
    assert.equal(deployStage['dependsOn'], 'rollback_verify');
    assert.equal(deployStage['displayName'], `Roll back orders-api in production to ${DIGEST}`);
    assert.equal(
      stage(result.pipeline, 'rollback_production_payments')['displayName'],
      `Roll back payments in production to ${OTHER}`,
    );
    const deploy = job(result.pipeline, 'rollback_production_orders_api', 'rollback_orders_api');
    assert.equal(deploy['environment'], 'production');
    assert.deepEqual(stepsOf(deploy).map(stepId), [
      'download',
      'checkout',
      'rollback',
      'rollback_verify',
      'pin',
      'pin_check',
      'KubernetesManifest@1',
      'deployed',
      'rollback_evidence',
      'Smoke test',
    ]);
    assert.deepEqual(variable(deploy, 'ROLLBACK_SCAN_STATUS'), {
      name: 'ROLLBACK_SCAN_STATUS',
      value: "$[ stageDependencies.rollback_verify.verify_orders_api.outputs['scan.SCAN_STATUS'] ]",
      readonly: 'true',
    });
    assert.equal(inputs(step(deploy, 'rollback_evidence'))['scanStatus'], '$(ROLLBACK_SCAN_STATUS)');
    assert.equal(
      inputs(step(deploy, 'rollback_evidence'))['publishArtifact'],
      'evidence_rollback_production_orders_api_$(System.StageAttempt)_$(System.JobAttempt)',
    );
    assert.equal(
      inputs(step(deploy, 'pin'))['images'],
      'contosobuild.azurecr.io/shop/orders-api=$(rollback.IMAGE_REF)',
    );
  });

  it('queued without choosing, the same pipeline releases', () => {
    const result = check(expand(join(examples, 'azure-pipelines.yml'), examples));
    assert.deepEqual(stageNames(result.pipeline), ['Build', 'env_staging', 'env_production']);
  });

  it('rollback mode refuses to compile without the platform scan steps, saying why', () => {
    const result = check(
      expand(join(examples, 'azure-pipelines.yml'), examples, ROOT, rollbackRun({ 'orders-api': DIGEST })),
    );
    refused(
      result,
      'rollback needs the platform scan steps',
      'scanSteps in pipeline.yml',
      'would refuse every rollback target',
    );
  });

  const bad: Array<{ title: string; digests: Value; environment?: string; words: string[] }> = [
    {
      title: 'a digest one character short',
      digests: { 'orders-api': DIGEST.slice(0, -1) },
      words: ['rollback.digests.orders-api', 'is not a digest (sha256: and 64 hexadecimal characters)'],
    },
    {
      title: 'a digest that is not hexadecimal',
      digests: { 'orders-api': `sha256:${'g'.repeat(64)}` },
      words: ['rollback.digests.orders-api: sha256:ggg', 'is not a digest'],
    },
    {
      title: 'another algorithm',
      digests: { payments: `sha512:${'a'.repeat(64)}` },
      words: ['rollback.digests.payments: sha512:', 'is not a digest'],
    },
    {
      title: 'a tag instead of a digest',
      digests: { payments: '1.4.2' },
      words: ['rollback.digests.payments: 1.4.2 is not a digest'],
    },
    {
      title: 'an unknown service',
      digests: { 'order-api': DIGEST },
      words: [
        'rollback.digests names the service order-api, which is not one of the services (orders-api, payments, storefront)',
      ],
    },
    {
      title: 'an unknown environment',
      digests: { 'orders-api': DIGEST },
      environment: 'prod',
      words: ['rollback.environment prod is not one of the environments (staging, production)'],
    },
    { title: 'no service at all', digests: {}, words: ['rollback.digests names no service'] },
  ];
  for (const c of bad) {
    it(`${c.title} fails to compile, naming it`, () => {
      const templates = platform({ scanSteps: [SCANNER] });
      refused(
        check(
          expand(join(examples, 'azure-pipelines.yml'), examples, templates, rollbackRun(c.digests, c.environment)),
        ),
        ...c.words,
      );
    });
  }

  it('the old rollback shape (services: [{ name, digest }]) fails to compile, saying what rollback takes', () => {
    const pipeline = extending(
      base({ rollback: { environment: 'production', services: [{ name: 'api', digest: DIGEST }] } }),
    );
    refused(
      expanded(pipeline, platform({ scanSteps: [SCANNER] })),
      'rollback: unexpected services',
      'environment',
      'digests',
    );
  });

  it('a rollback to an environment the platform does not allow fails to compile', () => {
    const pipeline = extending(
      base({
        environments: environments(['staging', 'prod']),
        rollback: { environment: 'prod', digests: { api: DIGEST } },
      }),
    );
    refused(expanded(pipeline, platform({ scanSteps: [SCANNER] })), 'environment prod', 'not one the platform allows');
  });

  it('the verify job summarises, for the approver, the digest it verified and the scan it ran', () => {
    const templates = platform({ scanSteps: [SCANNER] });
    const result = check(
      expand(join(examples, 'azure-pipelines.yml'), examples, templates, rollbackRun({ 'orders-api': DIGEST })),
    );
    const summaryStep = step(jobsOf(result.pipeline, 'rollback_verify')[0]!, 'rollback_summary');
    const run = runBash(summaryStep, {
      'rollback.IMAGE_REF': `contosoprod.azurecr.io/shop/orders-api@${DIGEST}`,
      'rollback_verify.EVIDENCE_DIGEST': OTHER,
      'scan.SCAN_STATUS': 'passed',
    });
    assert.equal(run.status, 0, run.stderr);
    assert.ok(run.summary, 'a summary is uploaded');
    assert.match(run.summary, /### Rollback to approve: orders-api in production/);
    assert.ok(run.summary.includes(`| Digest | \`contosoprod.azurecr.io/shop/orders-api@${DIGEST}\` |`), run.summary);
    assert.ok(run.summary.includes(`| Evidence verified | \`${OTHER}\``), run.summary);
    assert.ok(run.summary.includes('| Scanned again now | passed |'), run.summary);
  });
});

describe('templates on a real organisation: approvers see the digests they approve', function () {
  this.timeout(120_000);

  it('the Build stage lists every service with its digest in the run summary, before the first environment asks for approval', () => {
    const result = clean(extending(base()), platform({ scanSteps: [SCANNER] }));
    const digests = job(result.pipeline, 'Build', 'digests');
    assert.deepEqual(digests['dependsOn'], ['build_api', 'build_pay_ments', 'build_web']);
    assert.equal(
      variable(digests, 'DIGEST_pay_ments')['value'],
      "$[ dependencies.build_pay_ments.outputs['capture.IMAGE_DIGEST'] ]",
    );
    const values: Record<string, string> = {};
    for (const [i, name] of ['api', 'pay_ments', 'web'].entries()) {
      values[`DIGEST_${name}`] = `sha256:${String(i).repeat(64)}`;
      values[`REF_${name}`] = `contosobuild.azurecr.io/shop/${name}@sha256:${String(i).repeat(64)}`;
      values[`TAG_${name}`] = '4711-2';
      values[`SCAN_${name}`] = i === 1 ? 'warned' : 'passed';
    }
    const run = runBash(step(digests, 'digests_summary'), values);
    assert.equal(run.status, 0, run.stderr);
    assert.ok(run.summary);
    assert.ok(
      run.summary.includes(
        `| api | \`sha256:${'0'.repeat(64)}\` | \`contosobuild.azurecr.io/shop/api@sha256:${'0'.repeat(64)}\`, tag \`4711-2\` | passed |`,
      ),
      run.summary,
    );
    assert.ok(run.summary.includes(`| pay-ments | \`sha256:${'1'.repeat(64)}\``), run.summary);
    assert.ok(run.summary.includes('| warned |'), run.summary);
    assert.ok(run.summary.includes(`| web | \`sha256:${'2'.repeat(64)}\``), run.summary);
  });

  it('without scan steps the summary says the scan status is declared, not scanned', () => {
    const result = clean(extending(base()));
    const run = runBash(step(job(result.pipeline, 'Build', 'digests'), 'digests_summary'), {
      DIGEST_api: DIGEST,
      REF_api: `r/api@${DIGEST}`,
      TAG_api: '1-1',
      DIGEST_pay_ments: DIGEST,
      REF_pay_ments: `r/p@${DIGEST}`,
      TAG_pay_ments: '1-1',
      DIGEST_web: DIGEST,
      REF_web: `r/w@${DIGEST}`,
      TAG_web: '1-1',
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.summary ?? '', /\| unknown \(declared, not scanned\) \|/);
  });

  it("each environment's evidence job lists what went out there, for the approver of the next environment", () => {
    const result = clean(extending(base()));
    const evidence = job(result.pipeline, 'env_staging', 'evidence');
    const summaryStep = step(evidence, 'released_summary');
    assert.equal(summaryStep['condition'], 'succeededOrFailed()');
    const run = runBash(summaryStep, { DEPLOYED_api: DIGEST, DEPLOYED_pay_ments: '', DEPLOYED_web: OTHER });
    assert.equal(run.status, 0, run.stderr);
    assert.ok(run.summary);
    assert.match(run.summary, /### Released to staging/);
    assert.ok(run.summary.includes(`| api | \`${DIGEST}\` | deployed |`), run.summary);
    assert.ok(run.summary.includes('| pay-ments | | **not deployed**'), run.summary);
    assert.ok(run.summary.includes(`| web | \`${OTHER}\` | deployed |`), run.summary);
    // A job output that was never set, as it may reach the step.
    const unset = runBash(summaryStep, { DEPLOYED_api: DIGEST, DEPLOYED_web: OTHER });
    assert.ok(unset.summary?.includes('| pay-ments | | **not deployed**'), unset.summary);
  });

  it('stage names hold only what is known when the run is compiled: no runtime value can be in them', () => {
    const result = clean(extending(base()));
    for (const name of stageNames(result.pipeline)) {
      const displayName = String(stage(result.pipeline, name)['displayName']);
      assert.ok(!displayName.includes('$(') && !displayName.includes('$['), `${name}: ${displayName}`);
    }
  });
});

describe("templates on a real organisation: jobs, evidence and the team's own steps", function () {
  this.timeout(120_000);

  it("no deployment job downloads the run's artifacts, in a release or a rollback", () => {
    const release = clean(extending(base()));
    const rollback = clean(
      extending(base({ rollback: { environment: 'staging', digests: { api: DIGEST, web: OTHER } } })),
      platform({ scanSteps: [SCANNER] }),
    );
    for (const pipeline of [release.pipeline, rollback.pipeline]) {
      const jobs = allDeploymentJobs(pipeline);
      assert.ok(jobs.length > 0);
      for (const j of jobs) assert.deepEqual(stepsOf(j)[0], { download: 'none' }, String(j['deployment']));
    }
  });

  it('evidence is recorded for every service whose deploy step succeeded, even when another service failed', () => {
    const result = clean(extending(base()));
    const evidence = job(result.pipeline, 'env_production', 'evidence');
    assert.equal(evidence['condition'], 'succeededOrFailed()');
    for (const name of ['api', 'pay_ments', 'web']) {
      assert.equal(
        step(evidence, `evidence_${name}`)['condition'],
        `and(succeededOrFailed(), ne(variables['DEPLOYED_${name}'], ''))`,
      );
      assert.equal(
        variable(evidence, `DEPLOYED_${name}`)['value'],
        `$[ dependencies.deploy_${name}.outputs['deploy_${name}.deployed.IMAGE_DIGEST'] ]`,
      );
    }
    // `deployed` comes right after the deploy step: what a later step does cannot take the evidence away.
    const names = stepsOf(job(result.pipeline, 'env_production', 'deploy_api')).map(stepId);
    assert.equal(names[names.indexOf('KubernetesManifest@1') + 1], 'deployed');
  });

  it("the team's steps run right before and right after the deploy step, restricted, in releases and rollbacks", () => {
    const teamSteps = {
      preDeploySteps: [{ bash: './migrate.sh', displayName: 'Migrate', target: { commands: 'any' } }],
      postDeploySteps: [{ script: './smoke.sh', displayName: 'Smoke' }],
    };
    const release = clean(extending(base(teamSteps)));
    const rollback = clean(
      extending(base({ ...teamSteps, rollback: { environment: 'production', digests: { api: DIGEST } } })),
      platform({ scanSteps: [SCANNER] }),
    );
    for (const deploy of [
      job(release.pipeline, 'env_production', 'deploy_api'),
      job(rollback.pipeline, 'rollback_production_api', 'rollback_api'),
    ]) {
      const names = stepsOf(deploy).map(stepId);
      const at = names.indexOf('KubernetesManifest@1');
      assert.deepEqual(names.slice(at - 2, at + 2), ['pin_check', 'Migrate', 'KubernetesManifest@1', 'deployed']);
      assert.equal(names[names.length - 1], 'Smoke');
      for (const name of ['Migrate', 'Smoke'])
        assert.deepEqual(step(deploy, name)['target'], { commands: 'restricted', settableVariables: 'none' }, name);
      assert.equal(variable(deploy, 'DEPLOY_SERVICE')['value'], 'api');
      assert.equal(variable(deploy, 'DEPLOY_ENVIRONMENT')['value'], 'production');
    }
    // In a rollback the evidence is recorded before the team's steps after the deploy.
    const names = stepsOf(job(rollback.pipeline, 'rollback_production_api', 'rollback_api')).map(stepId);
    assert.deepEqual(names.slice(-3), ['deployed', 'rollback_evidence', 'Smoke']);
    const helm = stepsOf(job(release.pipeline, 'env_staging', 'deploy_pay_ments')).map(stepId);
    assert.deepEqual(helm.slice(helm.indexOf('pin_check')), [
      'pin_check',
      'Migrate',
      'HelmDeploy@0',
      'deployed',
      'Smoke',
    ]);
    const aca = stepsOf(job(release.pipeline, 'env_staging', 'deploy_web')).map(stepId);
    assert.deepEqual(aca.slice(aca.indexOf('app_check')), [
      'app_check',
      'Migrate',
      'AzureContainerApps@1',
      'deployed',
      'Smoke',
    ]);
  });

  it('a team step may use only the tasks the platform allows', () => {
    const azureCli = {
      task: 'AzureCLI@2',
      displayName: 'Warm the cache',
      inputs: {
        azureSubscription: 'arm-production',
        scriptType: 'bash',
        scriptLocation: 'inlineScript',
        inlineScript: 'true',
      },
    };
    refused(
      expanded(extending(base({ postDeploySteps: [azureCli] }))),
      'postDeploySteps: the step Warm the cache runs the task AzureCLI@2, which the platform does not allow in team steps (allowed: none)',
    );
    const allowed = clean(extending(base({ postDeploySteps: [azureCli] })), platform({ teamStepTasks: ['AzureCLI'] }));
    assert.deepEqual(step(job(allowed.pipeline, 'env_staging', 'deploy_api'), 'Warm the cache')['target'], {
      commands: 'restricted',
      settableVariables: 'none',
    });
    // A task named by its id is not a name the platform listed.
    refused(
      expanded(
        extending(
          base({
            preDeploySteps: [
              {
                task: '46e4be58-730b-4389-8a2f-ea10b3e5e815@2',
                displayName: 'By id',
                inputs: { azureSubscription: 'a', scriptType: 'bash' },
              },
            ],
          }),
        ),
        platform({ teamStepTasks: ['AzureCLI'] }),
      ),
      'preDeploySteps: the step By id runs the task 46e4be58',
    );
    refused(
      expanded(
        extending(
          base({
            preDeploySteps: [
              { task: 'KubernetesManifest@1', displayName: 'Apply by tag', inputs: { action: 'deploy' } },
            ],
          }),
        ),
      ),
      'preDeploySteps: the step Apply by tag runs the task KubernetesManifest@1',
    );
  });

  it('a team step that checks out or downloads fails to compile: it would move the checked-out files the pin works on', () => {
    refused(
      expanded(extending(base({ preDeploySteps: [{ checkout: 'self', displayName: 'Again' }] }))),
      'preDeploySteps: the step Again is a checkout step',
    );
    refused(
      expanded(extending(base({ postDeploySteps: [{ download: 'current', displayName: 'Fetch' }] }))),
      'postDeploySteps: the step Fetch is a download step',
    );
  });

  it('no name depends on System.JobName, which is __default in a deployment job', () => {
    const release = clean(extending(base()));
    const rollback = clean(
      extending(base({ rollback: { environment: 'staging', digests: { api: DIGEST } } })),
      platform({ scanSteps: [SCANNER] }),
    );
    for (const pipeline of [release.pipeline, rollback.pipeline])
      assert.ok(!JSON.stringify(pipeline).includes('System.JobName'));
    for (const file of readdirSync(join(ROOT, 'templates')))
      assert.ok(!readFileSync(join(ROOT, 'templates', file), 'utf8').includes('System.JobName'), file);
  });
});
