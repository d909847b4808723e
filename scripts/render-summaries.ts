import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { TaskRun } from '../lab/taskrun';
import type { DemoHosts } from './demo';
import { runDemo } from './demo';
import { chromiumBinary, screenshot } from './screenshot';
import { summaryPage } from './summary-html';

// npm run summaries: the pictures of each task's build summary that overview.md (the Marketplace
// page) shows, made from real runs. It runs `npm run demo` (the packaged tasks, as the agent runs
// them, against local registries and the ACR test front), takes the markdown each chosen step
// uploaded with ##vso[task.uploadsummary], turns it into a page (summary-html.ts) and photographs
// it with headless Chromium (screenshot.ts) into images/summaries/<Task>.png.
//
// What differs on every run is shown as a pipeline would show it, and nothing else is changed: the
// addresses of the local registries (127.0.0.1:<port>) appear as the example host names below, and
// the demo's scratch folder as the sources folder of an agent installed in /agent. Digests and
// everything else are what the task wrote. Commit the new PNGs.

/** The step of the demo whose summary pictures each task. */
const PICTURED: readonly { readonly task: string; readonly step: string }[] = [
  { task: 'DigestCapture', step: 'capture' },
  { task: 'DigestLock', step: 'lock-1.4.2' },
  { task: 'DigestPromote', step: 'promote' },
  { task: 'DigestPin', step: 'pin' },
  { task: 'DigestEvidence', step: 'evidence-1.5.0' },
  { task: 'DigestRetain', step: 'retain-protect' },
];

/** The example names the local registries are shown under, and the folder the demo's scratch folder is. */
const EXAMPLE_HOSTS: Record<keyof DemoHosts, string> = {
  build: 'contosodev.azurecr.io',
  production: 'contosoprod.azurecr.io',
  acr: 'contoso.azurecr.io',
};
const EXAMPLE_FOLDER = '/agent/_work/1/s';
/** The demo's agent home: its jobs' folders (sources, temp) are shown under an agent installed in /agent. */
const EXAMPLE_AGENT = '/agent';

const OUT = join(__dirname, '..', '..', 'images', 'summaries');

function summaryOf(run: TaskRun, step: string): { title: string; markdown: string } {
  const upload = run.commands.find((cmd) => cmd.command === 'task.uploadsummary');
  const markdown = run.summaries[0];
  if (!upload || markdown === undefined)
    throw new Error(`the demo step ${step} uploaded no build summary (result ${run.result}: ${run.message})`);
  return { title: basename(upload.message, '.md'), markdown };
}

async function main(): Promise<void> {
  chromiumBinary(); // fail before the demo's minute when there is nothing to take the pictures with
  const runs = new Map<string, TaskRun>();
  let replacements: (readonly [string, string])[] = [];
  process.stderr.write('Running the demo for its build summaries ...\n');
  const onStart = (hosts: DemoHosts, scratch: string, agentHome: string): void => {
    replacements = [
      ...Object.entries(hosts).map(([role, host]) => [host, EXAMPLE_HOSTS[role as keyof DemoHosts]] as const),
      [agentHome, EXAMPLE_AGENT],
      [scratch, EXAMPLE_FOLDER],
    ];
  };
  const failed = await runDemo({ print: () => undefined, onRun: (step, run) => runs.set(step, run), onStart });
  if (failed.length > 0)
    throw new Error(`the demo did not go as expected, so its summaries are not pictured: ${failed.join('; ')}`);
  mkdirSync(OUT, { recursive: true });
  for (const { task, step } of PICTURED) {
    const run = runs.get(step);
    if (!run) throw new Error(`the demo has no step ${step} (for ${task}); was a registry missing?`);
    const summary = summaryOf(run, step);
    // A host followed by a digit would be another port: 127.0.0.1:4431 is not in 127.0.0.1:44310.
    const markdown = replacements.reduce(
      (text, [from, to]) => text.replace(new RegExp(`${from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?!\\d)`, 'g'), to),
      summary.markdown,
    );
    const png = join(OUT, `${task}.png`);
    await screenshot(summaryPage(summary.title, markdown), png, { width: 900, scale: 1.5 });
    console.log(`pictured ${task}'s summary (demo step ${step}): images/summaries/${task}.png`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
