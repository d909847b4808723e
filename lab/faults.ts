import type { ErrorCode } from '../src/errors';
import type { Fault } from './proxy';

// The faults the fault suite (test/packaged/faults.test.ts) plays on every task, and what each task
// must do under each: the README's "Reliability" table is rendered from this and checked against
// it (test/reliability.test.ts), so every cell of it is a test of the suite that can fail.

export type Column =
  | 'capture'
  | 'lock'
  | 'promoteSource'
  | 'promoteTarget'
  | 'evidenceRecord'
  | 'evidenceVerify'
  | 'retain';

export const COLUMNS: readonly { readonly key: Column; readonly title: string }[] = [
  { key: 'capture', title: 'DigestCapture' },
  { key: 'lock', title: 'DigestLock (ACR)' },
  { key: 'promoteSource', title: 'DigestPromote, at the source' },
  { key: 'promoteTarget', title: 'DigestPromote, at the target' },
  { key: 'evidenceRecord', title: 'DigestEvidence record' },
  { key: 'evidenceVerify', title: 'DigestEvidence verify' },
  { key: 'retain', title: 'DigestRetain (report)' },
];

/**
 * Which requests of a task a fault is played on: its first manifest read, a blob (read from the
 * source, or written to the target), every request, the token request, or one write.
 */
export type Target =
  | 'manifest'
  | 'blob'
  | 'all'
  | 'token'
  | 'second-tag'
  | 'lock-manifest'
  | 'lock-readback'
  | 'index-write';

export interface Cell {
  /** 'ok', or the error code the step fails with. */
  readonly outcome: 'ok' | ErrorCode;
  /** For a fault played every time: how many times the faulted request was sent (its tries). */
  readonly tries?: number;
  /** For a fault played once: the request was sent again and the step went on. */
  readonly retried?: boolean;
  /**
   * The longest the fault may hold the step up: `stalls` stall times (DigestRelease.StallSeconds)
   * and `seconds` more. The README shows it at the default stall time.
   */
  readonly within?: { readonly stalls: number; readonly seconds: number };
}

export interface FaultContext {
  /** The path of the request the fault is played on (for redirects). */
  readonly path: string;
  readonly method: string;
  /** The stall time of the suite, in ms. */
  readonly stallMs: number;
  /** `host:port` of the storage the redirect row sends blobs to. */
  readonly storageHost: string;
}

export interface Row {
  readonly key: string;
  /** The fault, as the README names it. */
  readonly title: string;
  readonly target: Target;
  /** Played on the first matching request only; else on every one. */
  readonly once: boolean;
  /** The registry the faulted side is on: the open one unless said (DigestLock is always on ACR). */
  readonly registry?: 'open' | 'basic' | 'acr';
  /** The image: the small sample, or one with a 24 MiB layer (more than a connection buffers). */
  readonly image?: 'small' | 'big';
  readonly fault: (context: FaultContext) => Fault;
  readonly cells: Readonly<Partial<Record<Column, Cell>>>;
}

/** The stall time the README states bounds at: the default of DigestRelease.StallSeconds. */
export const DEFAULT_STALL_SECONDS = 20;

const EVERY: readonly Column[] = [
  'capture',
  'lock',
  'promoteSource',
  'promoteTarget',
  'evidenceRecord',
  'evidenceVerify',
  'retain',
];
const BLOBS: readonly Column[] = ['promoteSource', 'promoteTarget', 'evidenceRecord', 'evidenceVerify', 'retain'];

function each(columns: readonly Column[], cell: Cell): Partial<Record<Column, Cell>> {
  return Object.fromEntries(columns.map((column) => [column, cell]));
}

/**
 * The cell for `columns`, where DigestRetain reads the faulted evidence: it decides nothing on a
 * partial picture, so evidence it cannot read fails the step with KEEP_LIST_INCOMPLETE, which names
 * each digest and why (the fault's own message).
 */
function readsEvidence(columns: readonly Column[], cell: Cell): Partial<Record<Column, Cell>> {
  return { ...each(columns, cell), retain: { ...cell, outcome: 'KEEP_LIST_INCOMPLETE' } };
}

const MANIFEST_OFFSET = 20;

export const ROWS: readonly Row[] = [
  {
    key: '429-once',
    title: '429 Too Many Requests with Retry-After: 1, once',
    target: 'all',
    once: true,
    fault: () => ({ kind: 'answer', answer: { status: 429, headers: { 'Retry-After': '1' } } }),
    cells: each(EVERY, { outcome: 'ok', retried: true }),
  },
  {
    key: '503-always',
    title: '503 Service Unavailable, every time',
    target: 'all',
    once: false,
    fault: () => ({ kind: 'answer', answer: { status: 503 } }),
    // DigestRetain's ACR probe takes the 503s for "not an ACR" and goes on to the tag list, which fails.
    cells: {
      ...each(EVERY, { outcome: 'REGISTRY_ERROR', tries: 4, within: { stalls: 0, seconds: 5 } }),
      retain: { outcome: 'REGISTRY_ERROR', tries: 4, within: { stalls: 0, seconds: 9 } },
    },
  },
  {
    key: 'reset-manifest',
    title: 'connection reset midway through a manifest, once',
    target: 'manifest',
    once: true,
    fault: () => ({ kind: 'reset-body', after: MANIFEST_OFFSET }),
    cells: each(EVERY, { outcome: 'ok', retried: true }),
  },
  {
    key: 'truncated-manifest',
    title: 'manifest cut short (connection closed midway), once',
    target: 'manifest',
    once: true,
    fault: () => ({ kind: 'truncate-body', after: MANIFEST_OFFSET }),
    cells: each(EVERY, { outcome: 'ok', retried: true }),
  },
  {
    key: 'stall-manifest-once',
    title: 'manifest stalls midway, once',
    target: 'manifest',
    once: true,
    fault: () => ({ kind: 'stall-body', after: MANIFEST_OFFSET }),
    cells: each(EVERY, { outcome: 'ok', retried: true }),
  },
  {
    key: 'stall-manifest',
    title: 'manifest stalls midway, every time',
    target: 'manifest',
    once: false,
    fault: () => ({ kind: 'stall-body', after: MANIFEST_OFFSET }),
    cells: readsEvidence(EVERY, { outcome: 'STALLED', tries: 2, within: { stalls: 2.25, seconds: 1 } }),
  },
  {
    key: 'no-answer',
    title: 'no answer to a manifest request, every time',
    target: 'manifest',
    once: false,
    fault: () => ({ kind: 'no-answer' }),
    cells: readsEvidence(EVERY, { outcome: 'STALLED', tries: 2, within: { stalls: 2, seconds: 1 } }),
  },
  {
    key: 'length-long',
    title: 'Content-Length longer than the manifest sent',
    target: 'manifest',
    once: false,
    fault: () => ({ kind: 'wrong-length', delta: 64 }),
    cells: readsEvidence(EVERY, { outcome: 'STALLED', tries: 2, within: { stalls: 2.25, seconds: 1 } }),
  },
  {
    key: 'length-short',
    title: 'Content-Length shorter than the manifest sent',
    target: 'manifest',
    once: false,
    fault: () => ({ kind: 'wrong-length', delta: -16 }),
    cells: readsEvidence(EVERY, { outcome: 'DIGEST_MISMATCH', tries: 1, within: { stalls: 0, seconds: 1 } }),
  },
  {
    key: 'tampered-manifest',
    title: 'manifest bytes altered on the way',
    target: 'manifest',
    once: false,
    fault: () => ({ kind: 'tamper' }),
    cells: readsEvidence(EVERY, { outcome: 'DIGEST_MISMATCH', tries: 1, within: { stalls: 0, seconds: 1 } }),
  },
  {
    key: 'oversize-manifest',
    title: 'a 5 MiB answer where a manifest should be',
    target: 'manifest',
    once: false,
    fault: () => ({
      kind: 'answer',
      answer: {
        status: 200,
        headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
        body: Buffer.alloc(5 * 1024 * 1024, 0x20),
      },
    }),
    cells: readsEvidence(EVERY, { outcome: 'REGISTRY_ERROR', tries: 1, within: { stalls: 0, seconds: 1 } }),
  },
  {
    key: 'endless-manifest',
    title: 'an endless chunked body where a manifest should be',
    target: 'manifest',
    once: false,
    fault: () => ({ kind: 'endless' }),
    cells: readsEvidence(EVERY, { outcome: 'REGISTRY_ERROR', tries: 1, within: { stalls: 0, seconds: 1 } }),
  },
  {
    key: 'redirect-loop',
    title: 'redirects that loop, on a manifest request',
    target: 'manifest',
    once: false,
    // The request, then ?hop=1 and ?hop=2 in turn: back to ?hop=1 is the loop.
    fault: ({ path }) => {
      const url = new URL(path, 'https://x');
      url.searchParams.set('hop', url.searchParams.get('hop') === '1' ? '2' : '1');
      return { kind: 'answer', answer: { status: 307, headers: { Location: `${url.pathname}${url.search}` } } };
    },
    cells: readsEvidence(EVERY, { outcome: 'REGISTRY_ERROR', tries: 1, within: { stalls: 0, seconds: 1 } }),
  },
  {
    key: 'reset-blob',
    title: 'connection reset midway through a blob (read, or taken by the registry), once',
    target: 'blob',
    once: true,
    fault: ({ method }) => (method === 'GET' ? { kind: 'reset-body', after: 40 } : { kind: 'reset-taking', after: 1 }),
    cells: each(BLOBS, { outcome: 'ok', retried: true }),
  },
  {
    key: 'stall-blob',
    title: 'blob stalls midway (read), or the registry stops taking it (upload), every time',
    target: 'blob',
    once: false,
    image: 'big',
    fault: ({ method }) =>
      method === 'GET' ? { kind: 'stall-body', after: 1024 } : { kind: 'stop-taking', after: 1024 * 1024 },
    cells: readsEvidence(BLOBS, { outcome: 'STALLED', tries: 2, within: { stalls: 2.25, seconds: 3 } }),
  },
  {
    key: 'no-answer-upload',
    title: "no answer after a blob upload's body (24 MiB for DigestPromote), every time",
    target: 'blob',
    once: false,
    image: 'big',
    fault: () => ({ kind: 'no-answer' }),
    cells: each(['promoteTarget', 'evidenceRecord'], {
      outcome: 'STALLED',
      tries: 2,
      within: { stalls: 2, seconds: 7 },
    }),
  },
  {
    key: 'late-upload',
    // An upload's answer may take a stall time and a second per 10 MiB: 2.4 s more for this one.
    title: 'a 24 MiB upload answered a stall time and 1.5 s after its body (the registry checks what it got)',
    target: 'blob',
    once: false,
    image: 'big',
    fault: ({ stallMs }) => ({ kind: 'late', ms: stallMs + 1500 }),
    cells: { promoteTarget: { outcome: 'ok', tries: 1 } },
  },
  {
    key: 'tampered-blob',
    title: 'blob bytes altered on the way (read, or uploaded)',
    target: 'blob',
    once: false,
    fault: () => ({ kind: 'tamper' }),
    cells: readsEvidence(BLOBS, { outcome: 'DIGEST_MISMATCH', tries: 1, within: { stalls: 0, seconds: 2 } }),
  },
  {
    key: 'endless-blob',
    title: 'an endless chunked body where a blob should be',
    target: 'blob',
    once: false,
    fault: () => ({ kind: 'endless' }),
    cells: readsEvidence(['promoteSource', 'evidenceVerify', 'retain'], {
      outcome: 'DIGEST_MISMATCH',
      tries: 1,
      within: { stalls: 0, seconds: 2 },
    }),
  },
  {
    key: 'redirect-storage',
    title: 'blob redirected (307) to storage on another host; no Authorization may go there',
    target: 'blob',
    once: false,
    registry: 'basic',
    fault: ({ path, storageHost }) => ({
      kind: 'answer',
      answer: {
        status: 307,
        headers: { Location: `https://${storageHost}${path}${path.includes('?') ? '&' : '?'}sig=grant` },
      },
    }),
    cells: each(['promoteSource', 'evidenceVerify', 'retain'], { outcome: 'ok', tries: 1 }),
  },
  {
    key: 'token-garbage',
    title: 'the token service answers 200 without a token',
    target: 'token',
    once: false,
    registry: 'acr',
    fault: () => ({
      kind: 'answer',
      answer: {
        status: 200,
        headers: { 'Content-Type': 'text/html' },
        body: Buffer.from('<html><body>Sign in to continue</body></html>'),
      },
    }),
    // DigestRetain asks for a token twice: its ACR probe only needs the challenge, the listing fails.
    cells: {
      ...each(EVERY, { outcome: 'REGISTRY_ERROR', tries: 1, within: { stalls: 0, seconds: 1 } }),
      retain: { outcome: 'REGISTRY_ERROR', tries: 2, within: { stalls: 0, seconds: 1 } },
    },
  },
  {
    key: '503-second-tag',
    title: '503 on writing the second tag, every time (says what was written)',
    target: 'second-tag',
    once: false,
    fault: () => ({ kind: 'answer', answer: { status: 503 } }),
    cells: { promoteTarget: { outcome: 'REGISTRY_ERROR', tries: 4, within: { stalls: 0, seconds: 5 } } },
  },
  {
    key: '503-lock-manifest',
    title: '503 on locking the manifest after the tag, every time (says what is locked)',
    target: 'lock-manifest',
    once: false,
    fault: () => ({ kind: 'answer', answer: { status: 503 } }),
    cells: { lock: { outcome: 'REGISTRY_ERROR', tries: 4, within: { stalls: 0, seconds: 5 } } },
  },
  {
    key: '503-lock-readback',
    title: '503 on reading the lock back after it was set, every time (says what was changed)',
    target: 'lock-readback',
    once: false,
    fault: () => ({ kind: 'answer', answer: { status: 503 } }),
    cells: { lock: { outcome: 'REGISTRY_ERROR', tries: 4, within: { stalls: 0, seconds: 5 } } },
  },
  {
    key: '503-index',
    title: '503 on writing the referrers index, every time (says what was written)',
    target: 'index-write',
    once: false,
    fault: () => ({ kind: 'answer', answer: { status: 503 } }),
    cells: { evidenceRecord: { outcome: 'REGISTRY_ERROR', tries: 4, within: { stalls: 0, seconds: 5 } } },
  },
];

/** A cell as the README shows it. */
export function cellText(cell: Cell | undefined): string {
  if (cell === undefined) return '—';
  const parts: string[] = [cell.outcome === 'ok' ? 'ok' : `fails ${cell.outcome}`];
  if (cell.retried) parts.push('retried');
  if (cell.tries !== undefined && cell.outcome !== 'ok')
    parts.push(`${cell.tries} ${cell.tries === 1 ? 'try' : 'tries'}`);
  if (cell.within !== undefined) parts.push(`≤ ${boundSeconds(cell.within, DEFAULT_STALL_SECONDS)} s`);
  return parts.join(', ');
}

/** The bound in seconds at a stall time of `stallSeconds`. */
export function boundSeconds(within: NonNullable<Cell['within']>, stallSeconds: number): number {
  return Math.ceil(within.stalls * stallSeconds + within.seconds);
}

/** The README's table: a header, then one line per fault. */
export function reliabilityTable(): string {
  const lines = [
    `| fault | ${COLUMNS.map((c) => c.title).join(' | ')} |`,
    `|---|${COLUMNS.map(() => '---').join('|')}|`,
  ];
  for (const row of ROWS)
    lines.push(`| ${row.title} | ${COLUMNS.map((c) => cellText(row.cells[c.key])).join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}
