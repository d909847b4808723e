import assert from 'node:assert/strict';
import { isDigestReleaseError } from '../../src/errors';
import { formatFinding, planBatch } from '../../src/pin/batch';
import { digestOf, fixture, options, source } from './helpers';

const WEB = digestOf('web');
const WEB_IMAGE = `myacr.azurecr.io/team/web@${WEB}`;

describe('pin: a batch of files', () => {
  it('fails on a file that is not YAML, naming file and line, and plans nothing', () => {
    assert.throws(
      () => planBatch([fixture('compose.yaml'), fixture('invalid.yaml'), fixture('values.yaml')], options([WEB_IMAGE])),
      (err: unknown) =>
        isDigestReleaseError(err, 'YAML_PARSE') &&
        /^invalid\.yaml:\d+ is not valid YAML: .*No file was changed\.$/s.test(err.message),
    );
  });

  it('fails on a file that is not YAML even when a comment in it has {{ }}, planning nothing', () => {
    assert.throws(
      () =>
        planBatch(
          [
            fixture('values.yaml'),
            source('broken.yaml', 'image:\n  repository: app  # see {{ .Values.x }}\n  tag: [\n'),
          ],
          options([WEB_IMAGE]),
        ),
      (err: unknown) =>
        isDigestReleaseError(err, 'YAML_PARSE') &&
        /^broken\.yaml:\d+ is not valid YAML: .*No file was changed\.$/s.test(err.message),
    );
  });

  it('names every invalid file, not only the first', () => {
    assert.throws(
      () => planBatch([source('a.yaml', 'a: [\n'), source('b.yaml', 'b: 1\nb: 2\n')], options([WEB_IMAGE])),
      /a\.yaml:\d+ .*\n.*b\.yaml:2 is not valid YAML: Map keys must be unique/s,
    );
  });

  it('in check mode lists every unpinned, disallowed and not understood image with file:line', () => {
    const plan = planBatch(
      [fixture('rendered-chart.yaml'), fixture('compose.yaml'), fixture('chart/templates/deployment.yaml')],
      options([], { mode: 'check', allowed: ['myacr.azurecr.io'] }),
    );
    assert.deepEqual(plan.errors.map(formatFinding), [
      'rendered-chart.yaml:60: Deployment/web initContainers migrate: myacr.azurecr.io/team/web-migrate:1.4.2 is not pinned to a digest',
      'rendered-chart.yaml:66: Deployment/web containers web: myacr.azurecr.io/team/web:1.4.2 is not pinned to a digest',
      'rendered-chart.yaml:73: Deployment/web containers envoy: docker.io/envoyproxy/envoy:v1.31.2 is not pinned to a digest',
      'rendered-chart.yaml:73: Deployment/web containers envoy: docker.io/envoyproxy/envoy:v1.31.2 comes from docker.io/envoyproxy/envoy, which allowedRegistries (myacr.azurecr.io) does not allow',
      'rendered-chart.yaml:86: Pod/web-test-connection containers wget: busybox is not pinned to a digest',
      'rendered-chart.yaml:86: Pod/web-test-connection containers wget: busybox comes from docker.io/library/busybox, which allowedRegistries (myacr.azurecr.io) does not allow',
      'compose.yaml:5: service web: myacr.azurecr.io/team/web:1.4.2 is not pinned to a digest',
      'compose.yaml:5: service worker: myacr.azurecr.io/team/web:1.4.2 is not pinned to a digest',
      'compose.yaml:16: service db: postgres:16 is not pinned to a digest',
      'compose.yaml:16: service db: postgres:16 comes from docker.io/library/postgres, which allowedRegistries (myacr.azurecr.io) does not allow',
      'chart/templates/deployment.yaml:4: this is a Helm template ({{ }} outside string values), which DigestPin does not evaluate; it was left as it is. Pin the chart values (values.yaml) or the manifests helm template renders, and leave templates out of the files input.',
    ]);
    assert.equal(plan.changedFiles.length, 0);
  });

  it('in check mode passes what pin mode produced, and flags a digest other than the release', () => {
    const pinned = planBatch([fixture('compose.yaml')], options([WEB_IMAGE, `postgres@${digestOf('pg')}`]));
    const text = pinned.files[0]!.updated;
    const check = planBatch(
      [source('compose.yaml', text)],
      options([WEB_IMAGE, `postgres@${digestOf('pg')}`], { mode: 'check' }),
    );
    assert.deepEqual(check.errors, []);
    assert.equal(check.pinnedCount, 3);
    const stale = planBatch(
      [source('compose.yaml', text)],
      options([`myacr.azurecr.io/team/web@${digestOf('newer')}`], { mode: 'check' }),
    );
    assert.match(
      stale.errors.map(formatFinding).join('\n'),
      /compose\.yaml:5: service web: .* is pinned to sha256:\w+, but the images line .* says sha256:/,
    );
  });

  it('in pin mode warns about images left unpinned, and fails only on disallowed registries', () => {
    const plan = planBatch(
      [fixture('compose.yaml')],
      options([WEB_IMAGE], { allowed: ['myacr.azurecr.io', 'docker.io/library'] }),
    );
    assert.deepEqual(plan.errors, []);
    assert.deepEqual(plan.warnings.map(formatFinding), [
      'compose.yaml:16: service db: postgres:16 is not pinned to a digest',
    ]);
    const strict = planBatch([fixture('compose.yaml')], options([WEB_IMAGE], { allowed: ['myacr.azurecr.io'] }));
    assert.equal(strict.errors.length, 1);
  });

  it('in pin mode fails on a targeted image it cannot write in place, keeping its images line matched', () => {
    const WORKER = digestOf('worker');
    const blockCompose = 'services:\n  a:\n    image: >-\n      app:1\n  b:\n    image: app:1\n';
    const sharedDigest =
      'web:\n  image:\n    repository: app\n    tag: "1"\n    digest: &d ""\nworker:\n  image:\n    repository: worker\n    tag: "1"\n    digest: *d\n';
    const blockKustomize = `images:\n- name: api\n  digest: >-\n    sha256:${'0'.repeat(64)}\n`;
    const plan = planBatch(
      [
        source('compose.yaml', blockCompose),
        source('values.yaml', sharedDigest),
        source('kustomization.yaml', blockKustomize),
      ],
      options([`app@${WEB}`, `worker@${WORKER}`, `api@${digestOf('api')}`]),
    );
    assert.deepEqual(plan.unmatched, [], 'an image that cannot be written still matches its images line');
    assert.deepEqual(plan.errors.map(formatFinding), [
      'compose.yaml:3: service a: app:1 cannot be pinned in place: it is a block scalar (| or >), which DigestPin does not rewrite. Write the image as a plain scalar on one line (app:1) to have it pinned.',
      `values.yaml:8: worker.image: worker:1 cannot be pinned in place: its digest is an anchor shared with another image that is pinned to another digest. Give this image its own digest value instead of the alias to have it pinned.`,
      `kustomization.yaml:2: kustomization images api: api@sha256:${'0'.repeat(64)} cannot be pinned in place: its digest is a block scalar (| or >), which DigestPin does not rewrite. Write digest as a plain scalar on one line to have it pinned.`,
    ]);
    assert.deepEqual(plan.warnings, []);
    assert.equal(plan.pinnedCount, 2, 'app in service b and the web image are pinned; worker and api are not');
  });

  it('in pin mode only warns about images it does not understand that no images line targets', () => {
    const plan = planBatch(
      [source('compose.yaml', 'services:\n  a:\n    image: >-\n      other:1\n  b:\n    image: app:1\n')],
      options([`app@${WEB}`]),
    );
    assert.deepEqual(plan.errors, []);
    assert.deepEqual(plan.warnings.map(formatFinding), [
      'compose.yaml:3: service a: other:1 is not pinned to a digest',
    ]);
  });

  it('reports images lines that matched nothing (the typo guard)', () => {
    const plan = planBatch([fixture('compose.yaml')], options([WEB_IMAGE, `myacr.azurecr.io/team/wbe@${WEB}`]));
    assert.deepEqual(
      plan.unmatched.map((target) => target.line),
      [`myacr.azurecr.io/team/wbe@${WEB}`],
    );
  });

  it('counts pinned references and changed files', () => {
    const plan = planBatch([fixture('compose.yaml'), fixture('cronjob.yaml')], options([WEB_IMAGE]));
    assert.equal(plan.pinnedCount, 2);
    assert.deepEqual(
      plan.changedFiles.map((file) => file.display),
      ['compose.yaml'],
    );
  });
});
