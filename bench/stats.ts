import { spawnSync } from 'node:child_process';

// Wall times of whole commands, repeated, reported as medians: these machines are noisy, so every
// benchmark prints ratios against a peer run in the same process, never an absolute verdict.

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Median wall time in ms of `runs` runs of a command (after one warm-up run). */
export function timeCommand(command: string, args: string[], env: NodeJS.ProcessEnv, runs: number): number {
  const times: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const started = process.hrtime.bigint();
    const result = spawnSync(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
    if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr.toString()}`);
    if (i > 0) times.push(elapsed);
  }
  return median(times);
}

export function ratio(a: number, b: number): string {
  return `${(a / b).toFixed(2)}x`;
}

/** The rounds' values as `a, b, c` (for the spread next to a median). */
export function rounds(values: number[], digits = 0): string {
  return values.map((v) => v.toFixed(digits)).join(', ');
}
