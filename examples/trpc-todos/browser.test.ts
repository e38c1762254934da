// The tRPC example in headless Chromium: two tabs of one origin share one Switchboard connection;
// a mutation in one tab publishes an invalidation through the API client on the server, and the
// list in the other tab refreshes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { build } from 'vite';
import { launch, pageErrors, skipBrowser as skip, until } from '../../packages/client/test/browser/harness.js';
import { startBackend } from './backend.js';

let outDir = '';
let browser: Browser | undefined;

before(async () => {
  if (skip) return;
  outDir = mkdtempSync(join(tmpdir(), 'switchboard-trpc-todos-'));
  await build({ configFile: fileURLToPath(new URL('./vite.config.ts', import.meta.url)), build: { outDir, emptyOutDir: true }, logLevel: 'error' });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

test('a tRPC mutation in one tab refreshes the list in another (one shared connection)', { skip, timeout: 90_000 }, async () => {
  const backend = await startBackend({ staticDir: outDir });
  const ctx = await browser!.newContext();
  try {
    const [a, b] = [await ctx.newPage(), await ctx.newPage()];
    const errors = [pageErrors(a), pageErrors(b)];
    for (const p of [a, b]) await p.goto(`${backend.url}/`);
    for (const p of [a, b]) await until(async () => (await p.textContent('#state')) === 'connected', 'connected');
    await until(() => backend.sb.counts().subscriptions === 1, 'the shared subscription');
    assert.equal(backend.sb.counts().connections, 1, 'two tabs, one connection');
    assert.deepEqual([await a.textContent('#role'), await b.textContent('#role')].sort(), ['follower', 'leader']);

    await a.fill('#text', 'buy milk');
    await a.click('#add');
    await until(async () => (await b.textContent('#list')) === 'buy milk', 'the other tab refreshed');
    await until(async () => (await a.textContent('#list')) === 'buy milk', 'the mutating tab refreshed');
    await b.fill('#text', 'walk dog');
    await b.click('#add');
    for (const p of [a, b]) await until(async () => (await p.locator('#list li').allTextContents()).join('|') === 'buy milk|walk dog', 'both lists');
    assert.deepEqual(errors.flat(), []);
  } finally {
    await ctx.close();
    await backend.close();
  }
});
