import assert from 'node:assert/strict';
import { isDigestReleaseError } from '../../src/errors';
import { planBatch } from '../../src/pin/batch';
import { planFile } from '../../src/pin/file-plan';
import { changedLines, digestOf, fixture, options, source } from './helpers';

const WEB = digestOf('web');
const MIGRATE = digestOf('migrate');
const REPORT = digestOf('report');
const FETCH = digestOf('fetch');
const API = digestOf('api');
const BUSYBOX = digestOf('busybox');

const RELEASE = [
  `myacr.azurecr.io/team/web@${WEB}`,
  `myacr.azurecr.io/team/web-migrate@${MIGRATE}`,
  `myacr.azurecr.io/team/report@${REPORT}`,
  `myacr.azurecr.io/team/fetcher@${FETCH}`,
  `myacr.azurecr.io/team/api@${API}`,
  `busybox@${BUSYBOX}`,
];

function pin(name: string, images = RELEASE, more: Parameters<typeof options>[1] = {}) {
  const file = fixture(name);
  return planFile(file.path, file.display, file.text, options(images, more));
}

describe('pin: rewriting real-world files', () => {
  it('pins a rendered Helm chart (multi-document, init containers, quoted images) touching only image lines', () => {
    const plan = pin('rendered-chart.yaml');
    assert.deepEqual(changedLines(plan.original, plan.updated), [
      {
        line: 60,
        before: '          image: "myacr.azurecr.io/team/web-migrate:1.4.2"   # runs the schema migration',
        after: `          image: "myacr.azurecr.io/team/web-migrate@${MIGRATE}"   # runs the schema migration`,
      },
      {
        line: 66,
        before: '          image: "myacr.azurecr.io/team/web:1.4.2"',
        after: `          image: "myacr.azurecr.io/team/web@${WEB}"`,
      },
      { line: 86, before: '      image: busybox', after: `      image: busybox@${BUSYBOX}` },
    ]);
    const envoy = plan.images.find((image) => image.context.includes('envoy'))!;
    assert.deepEqual(
      envoy.problems.map((p) => p.kind),
      ['unpinned'],
    );
    assert.equal(plan.images.length, 4, 'the image inside the ConfigMap string is not a container');
  });

  it('pins a CronJob, its init containers, and a Pod ephemeral container; repins an old digest', () => {
    const plan = pin('cronjob.yaml');
    const lines = changedLines(plan.original, plan.updated);
    assert.deepEqual(
      lines.map((l) => l.line),
      [17, 20, 32, 35],
    );
    assert.equal(
      lines[0]!.after,
      `            image: myacr.azurecr.io/team/fetcher@${FETCH} # keep in step with the API`,
    );
    assert.equal(lines[2]!.after, `    image: myacr.azurecr.io/team/report@${REPORT}`);
    assert.equal(lines[3]!.after, `    image: busybox@${BUSYBOX}`);
  });

  it('pins a compose file through its anchor once, for every service that merges it', () => {
    const plan = pin('compose.yaml');
    assert.deepEqual(changedLines(plan.original, plan.updated), [
      {
        line: 5,
        before: '  image: myacr.azurecr.io/team/web:1.4.2 # shared by web and worker',
        after: `  image: myacr.azurecr.io/team/web@${WEB} # shared by web and worker`,
      },
    ]);
    assert.deepEqual(
      plan.images.map((i) => i.context),
      ['service web', 'service worker', 'service db'],
    );
  });

  it('sets digest: in a kustomize overlay, keeping newTag and the comments', () => {
    const plan = pin('kustomize/overlays/prod/kustomization.yaml');
    const expected = plan.original.replace(
      '    newTag: "3.1.0"  # the release tag\n',
      `    newTag: "3.1.0"  # the release tag\n    digest: ${API}\n`,
    );
    assert.equal(plan.updated, expected);
  });

  it('writes Helm values digests: a new key at the map indentation, an empty one in its quotes', () => {
    const plan = pin('values.yaml');
    const expected = plan.original
      .replace('  pullPolicy: IfNotPresent\n', `  pullPolicy: IfNotPresent\n  digest: ${WEB}\n`)
      .replace('    digest: ""', `    digest: "${MIGRATE}"`);
    assert.equal(plan.updated, expected);
  });

  it('writes into a flow map, and follows helmDigestKey', () => {
    const text = 'exporter: {repository: quay.io/prometheus/statsd-exporter, tag: v0.26.1}\n';
    const d = digestOf('exporter');
    const plan = planFile(
      'v.yaml',
      'v.yaml',
      text,
      options([`quay.io/prometheus/statsd-exporter@${d}`], { helmDigestKey: 'exporter.sha' }),
    );
    assert.equal(plan.updated, `exporter: {repository: quay.io/prometheus/statsd-exporter, tag: v0.26.1, sha: ${d}}\n`);
  });

  it('renames with name=ref: kustomize newName, Helm registry and repository, container images', () => {
    const d = digestOf('renamed');
    const images = [`api=myacr.azurecr.io/team/api-v2@${d}`];
    const kustomize = planFile(
      'kustomization.yaml',
      'kustomization.yaml',
      'images:\n- name: api\n  newTag: "1"\n',
      options(images),
    );
    assert.equal(
      kustomize.updated,
      `images:\n- name: api\n  newTag: "1"\n  newName: myacr.azurecr.io/team/api-v2\n  digest: ${d}\n`,
    );
    const deploy = planFile(
      'd.yaml',
      'd.yaml',
      'apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: api:latest\n',
      options(images),
    );
    assert.match(deploy.updated, new RegExp(`image: myacr.azurecr.io/team/api-v2@${d}\n$`));
    const values = planFile(
      'values.yaml',
      'values.yaml',
      'image:\n  registry: docker.io\n  repository: api\n  tag: "1"\n',
      options(images),
    );
    assert.equal(
      values.updated,
      `image:\n  registry: myacr.azurecr.io\n  repository: team/api-v2\n  tag: "1"\n  digest: ${d}\n`,
    );
  });

  it('keepTag writes repo:tag@digest, with the tag of the images line when it has one', () => {
    const text = 'services:\n  a:\n    image: app:1.0\n  b:\n    image: lib:2.0\n';
    const plan = planFile(
      'compose.yaml',
      'compose.yaml',
      text,
      options([`app@${WEB}`, `lib:2.1@${API}`], { keepTag: true }),
    );
    assert.equal(plan.updated, `services:\n  a:\n    image: app:1.0@${WEB}\n  b:\n    image: lib:2.1@${API}\n`);
  });

  it('matches names after normalisation: nginx, docker.io/nginx and docker.io/library/nginx are one', () => {
    const text =
      'services:\n  a:\n    image: nginx\n  b:\n    image: docker.io/nginx:1\n  c:\n    image: index.docker.io/library/nginx:1\n';
    const plan = planFile('compose.yaml', 'compose.yaml', text, options([`docker.io/library/nginx@${WEB}`]));
    assert.equal(
      plan.updated,
      `services:\n  a:\n    image: nginx@${WEB}\n  b:\n    image: docker.io/nginx@${WEB}\n  c:\n    image: index.docker.io/library/nginx@${WEB}\n`,
    );
  });

  it('keeps CRLF line endings, a byte order mark and unrelated formatting', () => {
    const text = '\uFEFFservices:\r\n  a:\r\n    image:   "app:1"   # x\r\n    ports: [ "80:80" ]\r\n';
    const plan = planFile('compose.yaml', 'compose.yaml', text, options([`app@${WEB}`]));
    assert.equal(
      plan.updated,
      `\uFEFFservices:\r\n  a:\r\n    image:   "app@${WEB}"   # x\r\n    ports: [ "80:80" ]\r\n`,
    );
  });

  it('adds a Helm digest key with the line ending of the lines around it', () => {
    const crlf = 'image:\r\n  repository: app\r\n  tag: "1"\r\n';
    assert.equal(
      planFile('values.yaml', 'values.yaml', crlf, options([`app@${WEB}`])).updated,
      `${crlf}  digest: ${WEB}\r\n`,
    );
    const mixed = '# written on Windows\r\nimage:\n  repository: app\n  tag: "1"';
    assert.equal(
      planFile('values.yaml', 'values.yaml', mixed, options([`app@${WEB}`])).updated,
      `${mixed}\n  digest: ${WEB}\n`,
    );
    const lastCrlf = 'image:\r\n  repository: app\r\n  tag: "1"';
    assert.equal(
      planFile('values.yaml', 'values.yaml', lastCrlf, options([`app@${WEB}`])).updated,
      `${lastCrlf}\r\n  digest: ${WEB}\r\n`,
    );
  });

  it('is idempotent: pinning what it pinned changes nothing', () => {
    for (const name of [
      'rendered-chart.yaml',
      'cronjob.yaml',
      'compose.yaml',
      'values.yaml',
      'kustomize/overlays/prod/kustomization.yaml',
    ]) {
      const first = pin(name);
      const second = planFile(first.path, first.display, first.updated, options(RELEASE));
      assert.equal(second.updated, first.updated, name);
      assert.ok(
        second.images.every((image) => !image.changed),
        name,
      );
    }
    const renamed = [`api=myacr.azurecr.io/team/api-v2@${API}`];
    const first = planFile('kustomization.yaml', 'kustomization.yaml', 'images:\n- name: api\n', options(renamed));
    const second = planBatch([source('kustomization.yaml', first.updated)], options(renamed));
    assert.equal(second.files[0]!.updated, first.updated);
    assert.deepEqual(second.unmatched, [], 'a name= line still matches after the rename');
  });

  it('leaves Helm template expressions alone and says so', () => {
    const text = 'apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: "{{ .Values.image }}"\n';
    const plan = planFile('p.yaml', 'p.yaml', text, options([`app@${WEB}`]));
    assert.equal(plan.updated, text);
    assert.equal(plan.images[0]!.problems[0]!.kind, 'not-understood');
    assert.match(plan.images[0]!.problems[0]!.message, /Helm template/);
  });

  it('reports a chart template file as a template, with the line of its first action', () => {
    const plan = pin('chart/templates/deployment.yaml');
    assert.equal(plan.templateLine, 4);
    assert.equal(plan.updated, plan.original);
  });

  it('does not take {{ }} in comments or string values for a template file', () => {
    const text =
      '# uses {{ tpl }}\nannotations:\n  note: "{{ .Release.Name }}"\nimage:\n  repository: app\n  tag: "1"\n';
    const plan = planFile('values.yaml', 'values.yaml', text, options([`app@${WEB}`]));
    assert.equal(plan.templateLine, undefined);
    assert.match(plan.updated, new RegExp(`digest: ${WEB}\n$`));
  });

  it('takes a file that does not parse for a template only when {{ }} is outside comments and strings', () => {
    const broken: Array<[string, number]> = [
      ['# see {{ x }}\na: [\n', 3],
      ['kind: Pod\nspec:\n  containers:\n  - image: app:1  # from {{ .Values.image }}\n    name: [\n', 6],
      ['a: "{{ x }}"\nb: [\n', 3],
    ];
    for (const [text, line] of broken) {
      assert.throws(
        () => planFile('broken.yaml', 'broken.yaml', text, options([`app@${WEB}`])),
        (err: unknown) =>
          isDigestReleaseError(err, 'YAML_PARSE') && err.message.startsWith(`broken.yaml:${line} is not valid YAML: `),
        JSON.stringify(text),
      );
    }
    const templates: Array<[string, number]> = [
      ['a: 1\n{{- if .Values.x }}\nb: 2\n{{- end }}\n', 2],
      ['# {{ not this one }}\nmetadata:\n  labels:\n{{ include "labels" . | indent 4 }}\n', 4],
      ["note: 'it''s {{ quoted }}' # and {{ commented }}\nb: [\n{{ .Values.b }}\n", 3],
    ];
    for (const [text, line] of templates) {
      assert.equal(
        planFile('t.yaml', 't.yaml', text, options([`app@${WEB}`])).templateLine,
        line,
        JSON.stringify(text),
      );
    }
  });

  it('refuses a map that sets a key twice, as YAML readers do, naming both lines; merge keys may repeat', () => {
    const duplicates: Array<[string, string]> = [
      [
        'a: 1\nb: 2\na: 3\n',
        'dup.yaml:3 is not valid YAML: Map keys must be unique; the key "a" is already set at line 1',
      ],
      [
        'image: {repository: app, tag: "1", tag: "2"}\n',
        'dup.yaml:1 is not valid YAML: Map keys must be unique; the key "tag" is already set at line 1',
      ],
      [
        'x:\n  "a": 1\n  a: 2\n',
        'dup.yaml:3 is not valid YAML: Map keys must be unique; the key "a" is already set at line 2',
      ],
      [
        '~: 1\nnull: 2\n',
        'dup.yaml:2 is not valid YAML: Map keys must be unique; the key null is already set at line 1',
      ],
      [
        '---\nok: 1\n---\nb: 1\nc: 2\nb: 3\nc: 4\n',
        'dup.yaml:6 is not valid YAML: Map keys must be unique; the key "b" is already set at line 4',
      ],
    ];
    for (const [text, message] of duplicates) {
      assert.throws(
        () => planFile('dup.yaml', 'dup.yaml', text, options([`app@${WEB}`])),
        (err: unknown) =>
          isDigestReleaseError(err, 'YAML_PARSE') &&
          err.message === `${message}. Fix the file, or leave it out of the files input.`,
        JSON.stringify(text),
      );
    }
    const fine = [
      'a: &a {x: 1}\nb: &b {y: 1}\nc:\n  <<: *a\n  <<: *b\n',
      '1: x\n"1": y\n',
      '.nan: 1\n.NaN: 2\n',
      'a: {x: 1}\nb: {x: 1}\n',
    ];
    for (const text of fine)
      assert.doesNotThrow(() => planFile('ok.yaml', 'ok.yaml', text, options([`app@${WEB}`])), JSON.stringify(text));
  });

  it('reports a block scalar image as not understood instead of reflowing it', () => {
    const text = 'services:\n  a:\n    image: >-\n      app:1\n';
    const plan = planFile('compose.yaml', 'compose.yaml', text, options([`app@${WEB}`]));
    assert.equal(plan.updated, text);
    assert.match(plan.images[0]!.problems[0]!.message, /block scalar/);
  });
});
