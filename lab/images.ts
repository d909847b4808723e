import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Real images without a Docker engine: umoci builds them in an OCI layout, skopeo pushes them.
// A multi-platform index is two umoci images joined by an index manifest written into the layout.

export interface RegistryAccess {
  /** A folder with ca.crt for skopeo. */
  readonly certDir: string;
  /** user:password, when the registry needs sign-in. */
  readonly creds?: string;
}

function run(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

interface LayoutIndex {
  schemaVersion: number;
  manifests: {
    mediaType: string;
    digest: string;
    size: number;
    annotations?: Record<string, string>;
    platform?: Record<string, string>;
  }[];
}

export class OciLayout {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    run('umoci', ['init', '--layout', dir]);
  }

  /** A one-layer image for `architecture`, holding a file with `content`. */
  image(tag: string, architecture: string, content: string): void {
    const ref = `${this.dir}:${tag}`;
    run('umoci', ['new', '--image', ref]);
    run('umoci', [
      'config',
      '--image',
      ref,
      '--os',
      'linux',
      '--architecture',
      architecture,
      '--config.cmd',
      '/app/run',
    ]);
    const scratch = mkdtempSync(join(this.dir, '..', 'content-'));
    const file = join(scratch, 'payload.txt');
    writeFileSync(file, content);
    run('umoci', ['insert', '--image', ref, file, '/app/payload.txt']);
    rmSync(scratch, { recursive: true, force: true });
  }

  /** An OCI index under `tag` over existing image tags, with their platforms. */
  index(tag: string, children: { tag: string; architecture: string; variant?: string }[]): void {
    const layout = this.readIndex();
    const manifests = children.map((child) => {
      const entry = layout.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === child.tag);
      if (!entry) throw new Error(`no tag ${child.tag} in ${this.dir}`);
      return {
        mediaType: entry.mediaType,
        digest: entry.digest,
        size: entry.size,
        platform: {
          architecture: child.architecture,
          os: 'linux',
          ...(child.variant ? { variant: child.variant } : {}),
        },
      };
    });
    const bytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }),
    );
    const hex = createHash('sha256').update(bytes).digest('hex');
    mkdirSync(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(this.dir, 'blobs', 'sha256', hex), bytes);
    layout.manifests = layout.manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] !== tag);
    layout.manifests.push({
      mediaType: 'application/vnd.oci.image.index.v1+json',
      digest: `sha256:${hex}`,
      size: bytes.length,
      annotations: { 'org.opencontainers.image.ref.name': tag },
    });
    writeFileSync(join(this.dir, 'index.json'), JSON.stringify(layout));
  }

  private readIndex(): LayoutIndex {
    return JSON.parse(readFileSync(join(this.dir, 'index.json'), 'utf8')) as LayoutIndex;
  }
}

/** skopeo copy from the layout to `registry/repo:tag`; `v2s2` converts to a Docker schema 2 manifest. */
export function push(
  layout: OciLayout,
  tag: string,
  destination: string,
  access: RegistryAccess,
  options: { format?: 'v2s2'; all?: boolean; digestFile?: string } = {},
): void {
  const args = ['copy', '--quiet', '--dest-cert-dir', access.certDir];
  if (access.creds) args.push('--dest-creds', access.creds);
  if (options.format) args.push('--format', options.format);
  if (options.all) args.push('--all');
  if (options.digestFile) args.push('--digestfile', options.digestFile);
  args.push(`oci:${layout.dir}:${tag}`, `docker://${destination}`);
  run('skopeo', args);
}

/** The manifest bytes the registry serves, as skopeo sees them. */
export function inspectRaw(reference: string, access: RegistryAccess): Buffer {
  const args = ['inspect', '--raw', '--cert-dir', access.certDir];
  if (access.creds) args.push('--creds', access.creds);
  args.push(`docker://${reference}`);
  return execFileSync('skopeo', args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

export function sha256Hex(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

// Async skopeo, for registries served from the test process itself (the ACR front): execFileSync
// would block the event loop the server answers on.

export interface SkopeoResult {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

export async function skopeo(args: string[]): Promise<SkopeoResult> {
  const { spawn } = await import('node:child_process');
  const child = spawn('skopeo', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout: Buffer.concat(out), stderr };
}

function pushArgs(layout: OciLayout, tag: string, destination: string, access: RegistryAccess): string[] {
  const args = ['copy', '--quiet', '--dest-cert-dir', access.certDir];
  if (access.creds) args.push('--dest-creds', access.creds);
  args.push(`oci:${layout.dir}:${tag}`, `docker://${destination}`);
  return args;
}

/** skopeo copy, answering what skopeo said; throws only when `mustSucceed`. */
export async function pushAsync(
  layout: OciLayout,
  tag: string,
  destination: string,
  access: RegistryAccess,
  mustSucceed = true,
): Promise<SkopeoResult> {
  const result = await skopeo(pushArgs(layout, tag, destination, access));
  if (mustSucceed && result.code !== 0) throw new Error(`skopeo copy to ${destination} failed: ${result.stderr}`);
  return result;
}

export async function inspectRawAsync(reference: string, access: RegistryAccess): Promise<Buffer> {
  const args = ['inspect', '--raw', '--cert-dir', access.certDir];
  if (access.creds) args.push('--creds', access.creds);
  const result = await skopeo([...args, `docker://${reference}`]);
  if (result.code !== 0) throw new Error(`skopeo inspect ${reference} failed: ${result.stderr}`);
  return result.stdout;
}

export async function deleteAsync(reference: string, access: RegistryAccess): Promise<SkopeoResult> {
  const args = ['delete', '--cert-dir', access.certDir];
  if (access.creds) args.push('--creds', access.creds);
  return skopeo([...args, `docker://${reference}`]);
}
