// Stalls: a connection on which nothing moves while something should. A pipeline must learn of one
// in seconds, and must not mistake a slow but moving transfer for one, nor blame the wrong side:
// time spent waiting for our own source (a blob streamed from another registry) or for our own
// reader (an upload that is slower than the download feeding it) is nobody's stall. So a stall is
// measured per phase of one exchange, and only while the peer is the one we wait for:
//
// - connect: no connection yet (a host that drops packets, a proxy that does not answer);
// - send: bytes of the request wait for the peer to take them (its window is shut);
// - answer: the request was sent, its answer's headers do not come. This is a deadline rather than
//   an idle time: a registry may legitimately think for a while after an upload (it checks the
//   digest of everything it received, or moves it to storage), so the caller sets the wait;
// - body: we want more of the answer's body (its buffer is not full) and none comes.

export type StallPhase = 'connect' | 'send' | 'answer' | 'body';

/** What a stalled exchange fails with (the request's error, or the answer body's). */
export class StallError extends Error {
  constructor(
    readonly phase: StallPhase,
    /** How long nothing moved (the answer's deadline in the answer phase). */
    readonly waitedMs: number,
    /** Request bytes handed to the connection so far (send and answer phases). */
    readonly bytesSent: number,
  ) {
    super(`nothing moved for ${Math.round(waitedMs / 100) / 10} s (${phase})`);
    this.name = 'StallError';
  }
}

export function isStallError(err: unknown): err is StallError {
  return err instanceof StallError;
}

/** The stall error behind `err`, looked for down its cause chain. */
export function stallBehind(err: unknown): StallError | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 6 && current instanceof Error; depth++) {
    if (current instanceof StallError) return current;
    current = current.cause;
  }
  return undefined;
}

/**
 * Calls `onStall` once when, for `ms` on end, `waiting()` held and `progress()` was not called.
 * Time while `waiting()` is false does not count. Looks eight times per period, so a stall is
 * noticed between `ms` and 1.125 × `ms` after the last progress.
 */
export class Watchdog {
  private last = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ms: number,
    private readonly waiting: () => boolean,
    private readonly onStall: (waitedMs: number) => void,
    /** Stops the watchdog for good, without a stall, once it holds. */
    private readonly finished: () => boolean = () => false,
  ) {}

  start(): this {
    this.last = Date.now();
    if (this.timer === undefined) this.arm();
    return this;
  }

  progress(): void {
    this.last = Date.now();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    this.timer = setTimeout(() => this.check(), Math.max(10, Math.floor(this.ms / 8)));
    // The exchange it watches keeps the process alive; the watchdog alone does not.
    this.timer.unref();
  }

  private check(): void {
    this.timer = undefined;
    if (this.finished()) return;
    const now = Date.now();
    if (!this.waiting()) this.last = now;
    else if (now - this.last >= this.ms) {
      this.onStall(now - this.last);
      return;
    }
    this.arm();
  }
}
