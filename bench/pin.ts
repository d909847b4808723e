import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { SourceFile } from '../src/pin/batch';
import { planBatch } from '../src/pin/batch';
import { parseHelmDigestKey } from '../src/pin/helmkey';
import type { PinOptions } from '../src/pin/file-plan';
import { parseTargets } from '../src/pin/targets';

// DigestPin against the floor: pinning 1,000 manifests (about 5 MB) in memory, next to a plain
// yaml parse-and-stringify of the same files in the same run. The ratio is what finding and
// splicing the image scalars costs on top of reading the YAML at all. Then how it scales: the time
// an image at 1k, 10k and 100k images (each with its own images line), and the time a MiB of a
// values file with one image at 1 and 8 MiB (the limit), each as a ratio to the smallest size:
// linear work stays near 1x, quadratic work grows with the size (it was 10x to 100x). Printed, not
// asserted.

const FILES = 1000;
const SERVICES = 20;

function digest(seed: string): string {
  return `sha256:${createHash('sha256').update(seed).digest('hex')}`;
}

function manifest(i: number): string {
  const app = `svc-${i % SERVICES}`;
  const env = Array.from(
    { length: 24 },
    (_, k) => `            - name: SETTING_${k}\n              value: "value-${i}-${k}" # tuned for ${app}\n`,
  ).join('');
  const data = Array.from(
    { length: 30 },
    (_, k) => `  key-${k}: "a configuration value long enough to look real, number ${k} of ${app}"\n`,
  ).join('');
  return `# Source: ${app}/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${app}-${i}
  labels: {app.kubernetes.io/name: ${app}, app.kubernetes.io/instance: release-${i}}
spec:
  replicas: 3
  selector:
    matchLabels:
      app.kubernetes.io/name: ${app}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: ${app}
    spec:
      initContainers:
        - name: migrate
          image: "myacr.azurecr.io/team/${app}-migrate:1.${i % 7}.0"
      containers:
        - name: app
          image: myacr.azurecr.io/team/${app}:1.${i % 7}.0 # the release
          ports:
            - {name: http, containerPort: 8080, protocol: TCP}
          env:
${env}          resources:
            limits: {cpu: 500m, memory: 256Mi}
        - name: proxy
          image: 'docker.io/envoyproxy/envoy:v1.31.2'
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ${app}-${i}-config
data:
${data}`;
}

function time(run: () => void, rounds = 3): number {
  let best = Infinity;
  for (let round = 0; round < rounds; round++) {
    const start = process.hrtime.bigint();
    run();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
  }
  return best;
}

const IMAGES_A_FILE = 10_000;

/**
 * Helm values files with `count` image maps in all, 10,000 a file (about 1.1 MB, well under the
 * 8 MiB a file DigestPin reads), each image its own repository (the digest key is added to each),
 * and the images lines that pin them.
 */
function manyImages(count: number): { files: SourceFile[]; bytes: number; images: string[] } {
  const files: SourceFile[] = [];
  for (let first = 0; first < count; first += IMAGES_A_FILE) {
    const n = Math.min(IMAGES_A_FILE, count - first);
    const text = Array.from({ length: n }, (_, k) => {
      const i = first + k;
      return `svc${i}:\n  replicas: 2\n  image:\n    repository: myacr.azurecr.io/team/svc-${i}\n    tag: "1.${i % 9}.0" # the release\n`;
    }).join('');
    files.push({ path: `values-${files.length}.yaml`, display: `values-${files.length}.yaml`, text });
  }
  const bytes = files.reduce((sum, file) => sum + file.text.length, 0);
  return {
    files,
    bytes,
    images: Array.from({ length: count }, (_, i) => `myacr.azurecr.io/team/svc-${i}@${digest(`svc-${i}`)}`),
  };
}

/** Helm values of about `mib` MiB with one image and one big map of settings (the shape that used to be quadratic). */
function bigValues(mib: number): string {
  const parts = ['image:\n  repository: myacr.azurecr.io/team/web\n  tag: "1.4.2"\nsettings:\n'];
  let size = 0;
  for (let i = 0; size < mib * 1024 * 1024 - 100; i++) {
    const line = `  setting_${i}: "a configuration value long enough to look real, ${i}"\n`;
    parts.push(line);
    size += line.length;
  }
  return parts.join('');
}

function scaling(): void {
  const helmKey = parseHelmDigestKey('image.digest');
  console.log('DigestPin scaling, best of 3 (2 at the largest size):');
  let perImageAt1k = 0;
  for (const count of [1_000, 10_000, 100_000]) {
    const { files, bytes, images } = manyImages(count);
    const options: PinOptions = { mode: 'pin', targets: parseTargets(images), allowed: [], keepTag: false, helmKey };
    let pinned = 0;
    const ms = time(
      () => {
        pinned = planBatch(files, options).pinnedCount;
      },
      count === 100_000 ? 2 : 3,
    );
    if (pinned !== count) throw new Error(`pinned ${pinned} of ${count} images`);
    const perImage = ms / count;
    if (count === 1_000) perImageAt1k = perImage;
    console.log(
      `  ${count.toLocaleString('en')} images (${files.length} file${files.length === 1 ? '' : 's'}, ${(bytes / 1e6).toFixed(1)} MB)`.padEnd(
        40,
      ) +
        `${ms.toFixed(0)} ms, ${(perImage * 1000).toFixed(0)} µs an image, ${(perImage / perImageAt1k).toFixed(2)}x the time an image at 1,000 (goal < 2)`,
    );
  }
  const options: PinOptions = {
    mode: 'pin',
    targets: parseTargets([`myacr.azurecr.io/team/web@${digest('web')}`]),
    allowed: [],
    keepTag: false,
    helmKey,
  };
  let perMiBAt1 = 0;
  for (const mib of [1, 8]) {
    const text = bigValues(mib);
    const ms = time(
      () => planBatch([{ path: 'values.yaml', display: 'values.yaml', text }], options),
      mib === 8 ? 2 : 3,
    );
    const perMiB = ms / mib;
    if (mib === 1) perMiBAt1 = perMiB;
    console.log(
      `  ${mib} MiB values file, one image`.padEnd(40) +
        `${ms.toFixed(0)} ms, ${perMiB.toFixed(0)} ms a MiB, ${(perMiB / perMiBAt1).toFixed(2)}x the time a MiB at 1 MiB (goal < 2)`,
    );
  }
}

export function main(): void {
  floor();
  console.log('');
  scaling();
}

function floor(): void {
  const dir = mkdtempSync(join(tmpdir(), 'digestpin-bench-'));
  try {
    const paths: string[] = [];
    let bytes = 0;
    for (let i = 0; i < FILES; i++) {
      const path = join(dir, `m${i}.yaml`);
      const text = manifest(i);
      writeFileSync(path, text);
      bytes += Buffer.byteLength(text);
      paths.push(path);
    }
    const images = Array.from({ length: SERVICES }, (_, s) => [
      `myacr.azurecr.io/team/svc-${s}@${digest(`svc-${s}`)}`,
      `myacr.azurecr.io/team/svc-${s}-migrate@${digest(`m-${s}`)}`,
    ]).flat();
    const options: PinOptions = {
      mode: 'pin',
      targets: parseTargets(images),
      allowed: [],
      keepTag: false,
      helmKey: parseHelmDigestKey('image.digest'),
    };
    const read = () => paths.map((path) => ({ path, display: path, text: readFileSync(path, 'utf8') }));

    let changed = 0;
    const pin = () => {
      changed = planBatch(read(), options).changedFiles.length;
    };
    const baseline = () => {
      for (const file of read()) for (const doc of parseAllDocuments(file.text)) String(doc);
    };
    pin();
    baseline();
    const pinMs = time(pin);
    const baselineMs = time(baseline);
    console.log(`DigestPin: ${FILES} manifests, ${(bytes / 1e6).toFixed(1)} MB, ${changed} changed`);
    console.log(`  pin (read, parse, find, splice)   ${pinMs.toFixed(0)} ms`);
    console.log(`  yaml parse + stringify (baseline) ${baselineMs.toFixed(0)} ms`);
    console.log(`  ratio ${(pinMs / baselineMs).toFixed(2)} (goal < 1.5)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
