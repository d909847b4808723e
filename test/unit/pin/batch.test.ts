import assert from 'node:assert/strict';
import { isDigestReleaseError } from '../../../src/errors';
import { formatFinding, planBatch } from '../../../src/pin/batch';
import { digestOf, fixture, options, source } from './helpers';

const WEB = digestOf('web');
const WEB_IMAGE = `myacr.azurecr.io/team/web@${WEB}`;

describe('pin: a batch of files', () => {
  it('fails on a file that is not YAML, naming file and line, and plans nothing', () => {
    assert.throws(
      () => planBatch([fixture('compose.yaml'), fixture('invalid.yaml'), fixture('values.yaml')], options([WEB_IMAGE])),
      (err: unknown) => isDigestReleaseError(err, 'YAML_PARSE') && /^invalid\.yaml:\d+ is not valid YAML: .*No file was changed\.$/s.test(err.message),
    );
  });

  it('names every invalid file, not only the first', () => {
    assert.throws(() => planBatch([source('a.yaml', 'a: [\n'), source('b.yaml', 'b: 1\nb: 2\n')], options([WEB_IMAGE])), /a\.yaml:\d+ .*\n.*b\.yaml:2 is not valid YAML: Map keys must be unique/s);
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
    const check = planBatch([source('compose.yaml', text)], options([WEB_IMAGE, `postgres@${digestOf('pg')}`], { mode: 'check' }));
    assert.deepEqual(check.errors, []);
    assert.equal(check.pinnedCount, 3);
    const stale = planBatch([source('compose.yaml', text)], options([`myacr.azurecr.io/team/web@${digestOf('newer')}`], { mode: 'check' }));
    assert.match(stale.errors.map(formatFinding).join('\n'), /compose\.yaml:5: service web: .* is pinned to sha256:\w+, but the images line .* says sha256:/);
  });

  it('in pin mode warns about images left unpinned, and fails only on disallowed registries', () => {
    const plan = planBatch([fixture('compose.yaml')], options([WEB_IMAGE], { allowed: ['myacr.azurecr.io', 'docker.io/library'] }));
    assert.deepEqual(plan.errors, []);
    assert.deepEqual(plan.warnings.map(formatFinding), ['compose.yaml:16: service db: postgres:16 is not pinned to a digest']);
    const strict = planBatch([fixture('compose.yaml')], options([WEB_IMAGE], { allowed: ['myacr.azurecr.io'] }));
    assert.equal(strict.errors.length, 1);
  });

  it('reports images lines that matched nothing (the typo guard)', () => {
    const plan = planBatch([fixture('compose.yaml')], options([WEB_IMAGE, `myacr.azurecr.io/team/wbe@${WEB}`]));
    assert.deepEqual(plan.unmatched.map((target) => target.line), [`myacr.azurecr.io/team/wbe@${WEB}`]);
  });

  it('counts pinned references and changed files', () => {
    const plan = planBatch([fixture('compose.yaml'), fixture('cronjob.yaml')], options([WEB_IMAGE]));
    assert.equal(plan.pinnedCount, 2);
    assert.deepEqual(plan.changedFiles.map((file) => file.display), ['compose.yaml']);
  });
});
