// Bundles each task (src/tasks/<Task>/index.ts, see task-sources.mjs) into one minified file with
// esbuild and stages the extension's root in build/: vss-extension.json, overview.md (the
// Marketplace page), images/ and build/tasks/<Task>/{task.json,index.js,task.js,task.node20.cache,
// task.node24.cache,icon.png} (and lib.json with the task library). No node_modules. tfx packages
// build/ as it is, so the paths in vss-extension.json are the paths inside the extension, where the
// agent finds each task: tasks/<Task>/.
//
// index.js, the entry task.json names, is src/tasks/cached-start.js: it runs the bundle (task.js)
// compiled with the V8 code cache for the Node that runs it. The caches are made here, by each Node
// the agent ships (test/runtimes, installed if missing), with scripts/code-cache.cjs. A task's
// bundle is not parsed at start then: 1 to 4 ms less per start on the development machine (more
// for the larger bundles; `npm run bench -- startup` prints each task with and without it). Another
// Node (an agent with other runtimes) compiles from source.
//
// @azure/identity (with MSAL, about 400 KB of the 650 KB a task bundle was) is needed only by the
// azureRM sign-in, which loads it when a token is first needed. It is bundled apart and embedded in
// the task's one bundle as brotli-compressed source text (base64), decompressed and compiled on that
// first use: compiled with the rest, it cost every start-up about 20 ms (DigestCapture anonymous:
// 1.65x -> 1.38x of node -e 0's time), and even as plain text, read and scanned at every start,
// about 6 ms more than compressed (about 100 KB instead of 400 KB).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { brotliCompressSync, constants as zlib } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { agentNodes, ensureAgentRuntimes } from './agent-runtimes.mjs';
import { taskFolders } from './task-sources.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build');
rmSync(out, { recursive: true, force: true });

const tasks = taskFolders(root);
ensureAgentRuntimes();

const common = {
  bundle: true,
  minify: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  legalComments: 'external',
  logLevel: 'warning',
};

/**
 * MSAL's own HTTP client calls the global fetch, which Node 16 (the oldest runtime the agent may fall
 * back to) lacks and which would bypass the agent's proxy and CA. @azure/identity always hands MSAL
 * its own client (system.networkClient, in msalClient.js and the managed identity credential), so
 * MSAL's is never used; it is replaced by one that says so if that ever changes.
 */
const noMsalFetch = {
  name: 'no-msal-fetch',
  setup(pluginBuild) {
    pluginBuild.onLoad({ filter: /msal-node[\\/]dist[\\/]network[\\/]HttpClient\.mjs$/ }, () => ({
      loader: 'js',
      contents:
        'const unused = () => Promise.reject(new Error("MSAL\'s own HTTP client (global fetch) is not bundled: @azure/identity must hand MSAL its network client"));\n' +
        'export class HttpClient { sendGetRequestAsync() { return unused(); } sendPostRequestAsync() { return unused(); } }\n',
    }));
  },
};

const identity = await build({
  ...common,
  plugins: [noMsalFetch],
  // Imported, as the task imports it, so the same (ESM) builds of the SDK are bundled.
  stdin: { contents: "export * from '@azure/identity';", resolveDir: root, sourcefile: 'azure-identity.js' },
  write: false,
  outfile: join(out, 'azure-identity.js'),
});
const identityCode = identity.outputFiles.find((file) => file.path.endsWith('.js')).text;
const identityLegal = identity.outputFiles.find((file) => file.path.endsWith('.LEGAL.txt'))?.text ?? '';
let deferred = false;

/** Resolves @azure/identity to a module that compiles the embedded bundle when first required. */
const deferIdentity = {
  name: 'defer-azure-identity',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^@azure\/identity$/ }, () => ({ path: '@azure/identity', namespace: 'deferred' }));
    pluginBuild.onLoad({ filter: /.*/, namespace: 'deferred' }, () => {
      deferred = true;
      const source = `(function (exports, require, module, __filename, __dirname) {${identityCode}\n})`;
      const packed = brotliCompressSync(source, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11 } }).toString('base64');
      return {
        loader: 'js',
        contents:
          `const packed = ${JSON.stringify(packed)};\n` +
          "const source = require('node:zlib').brotliDecompressSync(Buffer.from(packed, 'base64')).toString('utf8');\n" +
          "const compiled = require('node:vm').runInThisContext(source, { filename: __filename + '#@azure/identity' });\n" +
          'compiled.call(module.exports, module.exports, require, module, __filename, __dirname);\n',
      };
    });
  },
};

for (const { name: task, dir: source } of tasks) {
  const target = join(out, 'tasks', task);
  mkdirSync(target, { recursive: true });
  const bundled = await build({
    ...common,
    entryPoints: [join(source, 'index.ts')],
    outfile: join(target, 'task.js'),
    plugins: [deferIdentity],
    metafile: true,
  });
  // The embedded bundle's licence notices go with the task's own.
  if (deferred && identityLegal) appendFileSync(join(target, 'task.js.LEGAL.txt'), `\n${identityLegal}`);
  deferred = false;
  cpSync(join(root, 'src', 'tasks', 'cached-start.js'), join(target, 'index.js'));
  for (const node of agentNodes()) {
    const made = spawnSync(node, [join(root, 'scripts', 'code-cache.cjs'), target], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`making the code cache of ${task} with ${node} failed: ${made.stderr}`);
  }
  cpSync(join(source, 'task.json'), join(target, 'task.json'));
  cpSync(
    existsSync(join(source, 'icon.png')) ? join(source, 'icon.png') : join(root, 'images', 'task-icon.png'),
    join(target, 'icon.png'),
  );
  // The task library, in the one bundle that holds it (src/tasks/find-match.ts), loads its own
  // messages from lib.json beside the code that runs.
  if (Object.keys(bundled.metafile.inputs).some((input) => input.includes('node_modules/azure-pipelines-task-lib/'))) {
    cpSync(join(root, 'node_modules', 'azure-pipelines-task-lib', 'lib.json'), join(target, 'lib.json'));
  }
  console.log(`built ${task}`);
}
for (const file of ['vss-extension.json', 'overview.md', 'LICENSE', 'images']) {
  cpSync(join(root, file), join(out, file), { recursive: true });
}
