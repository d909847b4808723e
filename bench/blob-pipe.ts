import { createHash } from 'node:crypto';
import { exchange } from '../src/http/request';
import type { HttpResponse } from '../src/http/response';
import { runPool } from '../src/pool';

// The bytes of a promotion and nothing else, run by the promote benchmark beside DigestPromote and
// skopeo: each blob's GET streamed into one PUT through a sha256, over the project's own HTTP
// exchange (http/request.ts: keep-alive connections, a streamed body written in corked windows),
// the GET sent together with the POST that opens the upload, several blobs at once. No task
// library, inputs, sign-in, planning, manifests, read-back, tag or settle wait, and a digest
// mismatch is found only after the upload (the real copy refuses to finish such an upload). Its
// time is the floor Node's HTTPS stack sets for moving these bytes on this machine: what
// DigestPromote takes above it is the rest of a promotion; what it takes above skopeo, no change
// outside the data path can win back.
//
// node out/bench/blob-pipe.js '{"source":"https://host/v2/repo","target":"https://host/v2/repo",
//   "blobs":[{"digest":"sha256:…","size":1}],"concurrency":4}'

export interface PipeJob {
  /** The source repository's base URL, https://host/v2/<name>. */
  readonly source: string;
  /** The target repository's base URL. */
  readonly target: string;
  readonly blobs: readonly { readonly digest: string; readonly size: number }[];
  readonly concurrency: number;
}

const STALL_MS = 30_000;

/** Reads an answer to its end; throws unless its status is `want`. */
async function expect(answer: HttpResponse, want: number, what: string): Promise<void> {
  await answer.body?.cancel();
  if (answer.status !== want) throw new Error(`${what}: ${answer.status}, expected ${want}`);
}

async function pipeBlob(job: PipeJob, blob: PipeJob['blobs'][number]): Promise<void> {
  const [opened, download] = await Promise.all([
    exchange(`${job.target}/blobs/uploads/`, 'POST', {}, undefined, { stallMs: STALL_MS }),
    exchange(`${job.source}/blobs/${blob.digest}`, 'GET', {}, undefined, { stallMs: STALL_MS }),
  ]);
  await expect(opened, 202, 'POST upload');
  if (download.status !== 200) throw new Error(`GET ${blob.digest}: ${download.status}`);
  const upload = new URL(opened.headers.get('location')!, job.target);
  upload.searchParams.set('digest', blob.digest);
  const body = download.stream();
  const hash = createHash('sha256');
  body.on('data', (chunk: Buffer) => hash.update(chunk));
  const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.size) };
  await expect(await exchange(upload.href, 'PUT', headers, body, { stallMs: STALL_MS }), 201, `PUT ${blob.digest}`);
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== blob.digest) throw new Error(`${blob.digest} hashed to ${actual}`);
}

if (require.main === module) {
  const job = JSON.parse(process.argv[2]!) as PipeJob;
  runPool(job.blobs, job.concurrency, (blob) => pipeBlob(job, blob)).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
