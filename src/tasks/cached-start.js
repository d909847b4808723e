// Each task's entry (task.json's execution target, shipped as tasks/<Task>/index.js by
// scripts/build.mjs): runs the task's bundle (task.js) compiled with the V8 code cache that the build
// made for this Node major with the agent's own Node (task.node20.cache, task.node24.cache), so the
// bundle is not parsed at every start. V8 takes a cache only when it was made by the same V8 version
// with the same flags for a source of the same length; otherwise, or with no cache for this Node, the
// bundle is compiled from source as Node would. Plain CommonJS, no TypeScript: it is copied as it is.
// scripts/code-cache.cjs makes the caches with compileBundle, so both compile the same text.

const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { Script } = require('node:vm');

/** The bundle wrapped as Node wraps a CommonJS module; line 1 of task.js stays line 1 in stacks. */
function compileBundle(dir, cachedData) {
  const filename = join(dir, 'task.js');
  const source = `(function (exports, require, module, __filename, __dirname) {\n${readFileSync(filename, 'utf8')}\n})`;
  return { filename, script: new Script(source, { filename, lineOffset: -1, cachedData }) };
}

/** The cache for the Node major that runs this (process.version 'v20.20.2': task.node20.cache). */
function cacheFile(dir, version) {
  return join(dir, `task.node${/^v?(\d+)/.exec(version)[1]}.cache`);
}

function start() {
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile(__dirname, process.version));
  } catch {
    cachedData = undefined;
  }
  const { filename, script } = compileBundle(__dirname, cachedData);
  if (/^true$/i.test(process.env.SYSTEM_DEBUG || '')) {
    const used = cachedData === undefined ? 'none for this Node' : script.cachedDataRejected ? 'refused by V8' : 'used';
    process.stdout.write(`##vso[task.debug]start-up code cache: ${used} (Node ${process.version})\n`);
  }
  script.runInThisContext().call(module.exports, module.exports, require, module, filename, __dirname);
}

module.exports = { compileBundle, cacheFile };
if (require.main === module) start();
