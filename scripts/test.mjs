#!/usr/bin/env node
// Runs every test file of every workspace with Node's own test runner.
// Test files are TypeScript; tsx transpiles them, and the "source" export condition
// makes workspace packages resolve to their src/ so tests never run against a stale build.
// Usage: node scripts/test.mjs [path-filter ...]
//
// Nothing may hang the run. Every test gets a default timeout (scripts/test-timeout.mjs, 120 s unless
// its options say `timeout`; TEST_TIMEOUT_MS changes it) and every test FILE a second, larger one
// (Node 20's --test-timeout bounds a whole file under --test; 20 min unless TEST_FILE_TIMEOUT_MS),
// which catches a file that never exits after its tests (a leaked server, socket or timer).
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const roots = ['packages', 'apps', 'examples', 'bench'];
const skip = new Set(['node_modules', 'dist', '.git']);
const files = [];
function walk(dir) {
  let entries;
  try { entries = readdirSync(dir); } catch { return; }
  for (const name of entries) {
    if (skip.has(name)) continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) walk(p);
    else if (/\.test\.(ts|mts|js|mjs)$/.test(name)) files.push(relative(root, p));
  }
}
for (const r of roots) walk(join(root, r));
const filters = process.argv.slice(2);
const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files;
selected.sort();
if (selected.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// The whole run (no filters: `npm test`, CI) first type-checks every project (tsc -b, with
// noUnusedLocals/noUnusedParameters), then the tests, scripts and examples tsc -b does not build
// (tsconfig.lint.json, one program over every TypeScript file), and lints (eslint.config.js); any
// of them failing fails the run.
// A filtered run skips them (`npm run lint` runs them alone); SKIP_LINT=1 skips them too.
if (filters.length === 0 && process.env.SKIP_LINT !== '1') {
  for (const [what, script, args] of [
    ['tsc -b', 'node_modules/typescript/bin/tsc', ['-b', 'tsconfig.build.json']],
    ['tsc -p tsconfig.lint.json', 'node_modules/typescript/bin/tsc', ['-p', 'tsconfig.lint.json', '--noEmit']],
    ['eslint', 'node_modules/eslint/bin/eslint.js', ['.']],
  ]) {
    const started = Date.now();
    const r = spawnSync(process.execPath, [join(root, script), ...args], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) {
      console.error(`${what} failed: fix the errors above (npm run lint runs this step alone)`);
      process.exit(1);
    }
    console.log(`${what}: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}
const concurrency = process.env.TEST_CONCURRENCY ?? '3';
const fileTimeout = process.env.TEST_FILE_TIMEOUT_MS ?? String(20 * 60_000);
const args = [
  '--conditions=source',
  '--import', 'tsx',
  '--expose-internals', // for scripts/test-timeout.mjs
  '--import', new URL('./test-timeout.mjs', import.meta.url).href,
  '--test',
  `--test-concurrency=${concurrency}`,
  `--test-timeout=${fileTimeout}`,
  '--test-reporter=spec',
  ...selected,
];
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(signal ? 1 : code ?? 1));
