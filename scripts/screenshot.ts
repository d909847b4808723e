import type { ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';

// Pictures of HTML pages with headless Chromium (Debian's `chromium`, or $CHROMIUM), driven over
// the DevTools protocol on a pipe (--remote-debugging-pipe: no port is opened): the page is laid
// out at a fixed width and photographed exactly as tall as its content. Each browser gets a
// profile folder of its own, removed afterwards, and runs with nothing that reaches the network.

export interface ScreenshotOptions {
  /** CSS pixels. */
  readonly width: number;
  /** Device pixels per CSS pixel: 2 gives sharp text on high-density screens. */
  readonly scale: number;
}

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--hide-scrollbars',
  '--remote-debugging-pipe',
];

export function chromiumBinary(): string {
  const candidates = [process.env.CHROMIUM, 'chromium', 'chromium-browser', 'google-chrome'].filter(
    (c): c is string => !!c,
  );
  const found = candidates.find((c) => spawnSync('sh', ['-c', 'command -v "$0"', c], { stdio: 'ignore' }).status === 0);
  if (!found)
    throw new Error(
      'No Chromium found: install it (Debian/Ubuntu: sudo apt-get install -y chromium) or set CHROMIUM to its path.',
    );
  return found;
}

interface Message {
  readonly id?: number;
  readonly method?: string;
  readonly sessionId?: string;
  readonly result?: Record<string, unknown>;
  readonly error?: { readonly message: string };
  readonly params?: Record<string, unknown>;
}

/** The DevTools protocol over the pipe: messages are JSON, each ended by a NUL byte. */
class DevTools {
  private nextId = 1;
  private buffer = '';
  private readonly pending = new Map<
    number,
    { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  private readonly waiters: { method: string; sessionId?: string; resolve: () => void }[] = [];
  private failure: Error | undefined;

  constructor(
    private readonly input: Writable,
    output: Readable,
    browser: ChildProcess,
    stderr: () => string,
  ) {
    output.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8');
      for (let end = this.buffer.indexOf('\0'); end >= 0; end = this.buffer.indexOf('\0')) {
        this.receive(JSON.parse(this.buffer.slice(0, end)) as Message);
        this.buffer = this.buffer.slice(end + 1);
      }
    });
    browser.on('exit', (code) =>
      this.fail(new Error(`Chromium exited (${code}) before the picture was taken: ${stderr().trim().slice(-2000)}`)),
    );
  }

  private receive(message: Message): void {
    if (message.id !== undefined) {
      const call = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) call?.reject(new Error(`Chromium: ${message.error.message}`));
      else call?.resolve(message.result ?? {});
      return;
    }
    for (const waiter of [...this.waiters]) {
      if (waiter.method === message.method && waiter.sessionId === message.sessionId) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const call of this.pending.values()) call.reject(error);
    this.pending.clear();
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const promise = new Promise<Record<string, unknown>>((resolve, reject) =>
      this.pending.set(id, { resolve, reject }),
    );
    this.input.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    return promise;
  }

  /** Resolves at the next event `method` of the session (register before causing it). */
  event(method: string, sessionId?: string): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ method, ...(sessionId ? { sessionId } : {}), resolve }));
  }
}

/** Renders `html` and writes a PNG of the whole page to `pngPath`. */
export async function screenshot(html: string, pngPath: string, options: ScreenshotOptions): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), 'digest-release-chromium-'));
  const page = join(scratch, 'page.html');
  writeFileSync(page, html);
  const browser = spawn(chromiumBinary(), [...FLAGS, `--user-data-dir=${join(scratch, 'profile')}`, 'about:blank'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  browser.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const devtools = new DevTools(browser.stdio[3] as Writable, browser.stdio[4] as Readable, browser, () => stderr);
  const timer = setTimeout(() => browser.kill('SIGKILL'), 60_000);
  try {
    const { targetId } = await devtools.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = (await devtools.send('Target.attachToTarget', { targetId, flatten: true })) as {
      sessionId: string;
    };
    await devtools.send('Page.enable', {}, sessionId);
    await devtools.send(
      'Emulation.setDeviceMetricsOverride',
      { width: options.width, height: 200, deviceScaleFactor: options.scale, mobile: false },
      sessionId,
    );
    const loaded = devtools.event('Page.loadEventFired', sessionId);
    await devtools.send('Page.navigate', { url: pathToFileURL(page).href }, sessionId);
    await loaded;
    const measured = await devtools.send(
      'Runtime.evaluate',
      { expression: 'Math.ceil(document.documentElement.getBoundingClientRect().height)', returnByValue: true },
      sessionId,
    );
    const height = Number((measured.result as { value?: unknown } | undefined)?.value);
    if (!Number.isFinite(height) || height <= 0) throw new Error(`Chromium measured the page as ${height} pixels tall`);
    const shot = await devtools.send(
      'Page.captureScreenshot',
      { format: 'png', captureBeyondViewport: true, clip: { x: 0, y: 0, width: options.width, height, scale: 1 } },
      sessionId,
    );
    writeFileSync(pngPath, Buffer.from(String(shot.data), 'base64'));
    await devtools.send('Browser.close').catch(() => undefined);
  } finally {
    clearTimeout(timer);
    if (browser.exitCode === null) {
      await new Promise((resolve) => {
        const kill = setTimeout(() => browser.kill('SIGKILL'), 5_000);
        browser.once('exit', () => resolve(clearTimeout(kill)));
      });
    }
    rmSync(scratch, { recursive: true, force: true });
  }
}
