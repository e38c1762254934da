// Runs the type tests: `tsc --noEmit` over test/types/typed-channels.ts. The file holds lines that
// must compile and `@ts-expect-error` lines that must not; tsc fails on either kind of mistake.
// The example's React and Vue pages are checked in the same program.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

test('typed channels and handlers: tsc --noEmit over the expected-to-compile and @ts-expect-error lines', () => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const project = fileURLToPath(new URL('./types/tsconfig.json', import.meta.url));
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '-p', project], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `tsc reported:\n${r.stdout}${r.stderr}`);
});
