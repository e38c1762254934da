// Runs the type tests: `tsc --noEmit` over test/types/typed-channels.ts. The file holds lines that
// must compile and `@ts-expect-error` lines that must not; tsc fails on either kind of mistake.
// The example's React and Vue pages are checked in the same program.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// About 11 s of CPU for tsc (zod, tRPC and TanStack types included); the wall-clock bound is wide
// because a loaded shared machine stretches it many times over.
test('typed channels and handlers: tsc --noEmit over the expected-to-compile and @ts-expect-error lines', { timeout: 420_000 }, () => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const project = fileURLToPath(new URL('./types/tsconfig.json', import.meta.url));
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '-p', project], { encoding: 'utf8', timeout: 400_000 });
  assert.equal(r.status, 0, `tsc ${r.signal ? `was stopped (${r.signal}) at the time bound` : 'reported'}:\n${r.stdout}${r.stderr}`);
});
