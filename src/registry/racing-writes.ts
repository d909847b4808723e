// Writes that race. The distribution API has no conditional PUT: two clients that each check a tag
// (or the referrers tag-schema index) and then write it can both succeed, and the last write wins
// silently. A client cannot close that window; it can only make losing it visible. After writing,
// it waits for any writer that checked before our write landed to land its own write, then reads
// back: a writer that checked before our write and wrote within the wait is seen. What remains is a
// writer whose check-to-write took longer than our wait; the wait grows with our own check-to-write
// time, so that needs a writer several times slower than this one and slower than SETTLE_MIN_MS.
//
// A read-back alone, at once, cannot replace the wait: it sees only writes that have landed, and
// the writer it guards against has checked but not yet written. The wait is the time we give that
// writer to land; what it costs is a fixed SETTLE_MIN_MS on every promotion that writes a tag
// (a quarter of a 190 MB promotion on loopback), and shortening the floor is a choice about how
// slow a racing agent may be, not a speed fix.

/** The shortest wait before a read-back: longer than a client's check-to-write on a loaded agent. */
export const SETTLE_MIN_MS = 250;
/** The longest wait: a registry this slow gets a read-back after five seconds anyway. */
export const SETTLE_MAX_MS = 5_000;

/** How long to wait before reading back a write whose own check-to-write took `elapsedMs`. */
export function settleDelay(elapsedMs: number): number {
  return Math.min(SETTLE_MAX_MS, Math.max(SETTLE_MIN_MS, 3 * Math.max(0, elapsedMs)));
}

/** Waits out the settle delay for a check-to-write that started at `startedAt` (Date.now()). */
export function settle(startedAt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, settleDelay(Date.now() - startedAt)));
}
