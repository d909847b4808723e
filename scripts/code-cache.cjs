'use strict';
// node scripts/code-cache.cjs <task folder>: run by scripts/build.mjs with each Node the agent ships
// (test/runtimes), writes that Node's V8 code cache of the folder's bundle (task.js) beside it, as
// the folder's index.js (src/tasks/cached-start.js) reads it. The bundle is compiled, not run: the
// cache holds what V8 compiles up front (the top level, and the parse of every function).

const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const dir = process.argv[2];
const { compileBundle, cacheFile } = require(join(dir, 'index.js'));
const { script } = compileBundle(dir, undefined);
writeFileSync(cacheFile(dir, process.version), script.createCachedData());
