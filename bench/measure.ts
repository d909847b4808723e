import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { parseVsoLines } from '../lab/taskrun';

// One command run under /usr/bin/time, asynchronously (a server in this process, a counting proxy,
// keeps answering while it runs): its wall time, CPU time (user + system) and peak memory, and for
// a task, the output variables it set and its result.

export interface Measured {
  readonly ms: number;
  readonly cpuMs: number;
  readonly maxRssKiB: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly status: number | null;
  /** Each line of stdout with when it came (ms since the start; a pipe's writes are synchronous on Linux). */
  readonly lines: readonly { readonly ms: number; readonly text: string }[];
}

export interface TaskMeasured extends Measured {
  readonly outputs: Record<string, string>;
  /** `Succeeded: message`, `Failed: message`, or '' when the task set no result. */
  readonly outcome: string;
}

let serial = 0;

export async function measure(command: string, args: string[], env: NodeJS.ProcessEnv, dir: string): Promise<Measured> {
  const timeFile = join(dir, `time-${process.pid}-${serial++}.txt`);
  const started = process.hrtime.bigint();
  const child = spawn('/usr/bin/time', ['-f', '%M %U %S', '-o', timeFile, command, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const lines: { ms: number; text: string }[] = [];
  const decoder = new StringDecoder('utf8');
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out.push(chunk);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const parts = (partial + decoder.write(chunk)).split('\n');
    partial = parts.pop()!;
    for (const text of parts) lines.push({ ms, text });
  });
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const [rss, user, system] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  rmSync(timeFile, { force: true });
  return {
    ms,
    cpuMs: (user! + system!) * 1000,
    maxRssKiB: rss!,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
    status,
    lines,
  };
}

/** A packaged task run as the agent starts it (node index.js, inputs as INPUT_ variables). */
export async function measureTask(
  entry: string,
  env: NodeJS.ProcessEnv,
  inputs: Record<string, string>,
  dir: string,
): Promise<TaskMeasured> {
  const taskEnv: NodeJS.ProcessEnv = { ...env };
  for (const [name, value] of Object.entries(inputs)) taskEnv[`INPUT_${name.toUpperCase()}`] = value;
  // BENCH_CPU_PROF=<folder>: each task run also writes a V8 CPU profile there (timings then include the profiler).
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  const run = await measure(process.execPath, [...profile, entry], taskEnv, dir);
  const outputs: Record<string, string> = {};
  let outcome = '';
  for (const cmd of parseVsoLines(run.stdout)) {
    if (cmd.command === 'task.setvariable' && cmd.properties.isOutput === 'true')
      outputs[cmd.properties.variable!] = cmd.message;
    if (cmd.command === 'task.complete') outcome = `${cmd.properties.result ?? ''}: ${cmd.message}`;
  }
  return { ...run, outputs, outcome };
}

/** A skopeo command that must succeed. */
export async function measureSkopeo(args: string[], dir: string): Promise<Measured> {
  const run = await measure('skopeo', args, { PATH: process.env.PATH, HOME: process.env.HOME }, dir);
  if (run.status !== 0) throw new Error(`skopeo ${args.join(' ')} failed: ${run.stderr}`);
  return run;
}
