import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// A release made some days ago, by the task itself: the agent host's environment starts the task's
// Node with a preload (NODE_OPTIONS --require, which Node honours for any process it starts) that
// sets the process's JavaScript clock back. Only Date moves: TLS, the registry and every server in
// the test keep real time, as they would for an agent that ran on that day. DigestEvidence@1 then
// writes writtenAt as it would have then, which is all DigestRetain@1 reads of time.

const PRELOAD = `'use strict';
// Written by lab/clock.ts: Date, moved by DIGEST_RELEASE_TEST_CLOCK_SHIFT_MS.
const shift = Number(process.env.DIGEST_RELEASE_TEST_CLOCK_SHIFT_MS || '0');
if (shift !== 0) {
  const RealDate = Date;
  class ShiftedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + shift);
      else super(...args);
    }
    static now() {
      return RealDate.now() + shift;
    }
  }
  globalThis.Date = ShiftedDate;
}
`;

/** The agent host's environment for a task that runs `days` days ago (added to the usual hostEnv). */
export function daysAgoEnv(dir: string, days: number): Record<string, string> {
  mkdirSync(dir, { recursive: true });
  const preload = join(dir, 'clock-preload.cjs');
  writeFileSync(preload, PRELOAD);
  return {
    NODE_OPTIONS: `--require ${preload}`,
    DIGEST_RELEASE_TEST_CLOCK_SHIFT_MS: String(-days * 24 * 60 * 60 * 1000),
  };
}
