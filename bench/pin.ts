import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { planBatch } from '../src/pin/batch';
import { parseHelmDigestKey } from '../src/pin/helmkey';
import { PinOptions } from '../src/pin/plan';
import { parseTargets } from '../src/pin/targets';

// DigestPin against the floor: pinning 1,000 manifests (about 5 MB) in memory, next to a plain
// yaml parse-and-stringify of the same files in the same run. The ratio is what finding and
// splicing the image scalars costs on top of reading the YAML at all. Printed, not asserted.

const FILES = 1000;
const SERVICES = 20;

function digest(seed: string): string {
  return `sha256:${createHash('sha256').update(seed).digest('hex')}`;
}

function manifest(i: number): string {
  const app = `svc-${i % SERVICES}`;
  const env = Array.from({ length: 24 }, (_, k) => `            - name: SETTING_${k}\n              value: "value-${i}-${k}" # tuned for ${app}\n`).join('');
  const data = Array.from({ length: 30 }, (_, k) => `  key-${k}: "a configuration value long enough to look real, number ${k} of ${app}"\n`).join('');
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

function time(run: () => void): number {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const start = process.hrtime.bigint();
    run();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
  }
  return best;
}

export function main(): void {
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
    const images = Array.from({ length: SERVICES }, (_, s) => [`myacr.azurecr.io/team/svc-${s}@${digest(`svc-${s}`)}`, `myacr.azurecr.io/team/svc-${s}-migrate@${digest(`m-${s}`)}`]).flat();
    const options: PinOptions = { mode: 'pin', targets: parseTargets(images), allowed: [], keepTag: false, helmKey: parseHelmDigestKey('image.digest') };
    const read = () => paths.map((path) => ({ path, display: path, text: readFileSync(path, 'utf8') }));

    let changed = 0;
    const pin = () => {
      changed = planBatch(read(), options).changedFiles.length;
    };
    const baseline = () => {
      for (const file of read()) parseAllDocuments(file.text).forEach((doc) => String(doc));
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
