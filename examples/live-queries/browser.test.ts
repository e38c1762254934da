// The example in headless Chromium: the Vite-built React and Vue pages connect, show "connected",
// render messages published through the HTTP API client, survive a server restart, and stop their
// subscription when the component that made it unmounts (checked on the server).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { createApiClient, Channels, type TrpcSchema } from '@switchboard/client/server';
import { waitFor } from '@switchboard/server/testing';
import { startBackend, type Backend } from './backend.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const API_KEY = 'browser-test-api-key';
const SECRET = 'browser-test-secret-0123456789abcdef';
const present = existsSync(CHROMIUM);
// Under CI a missing Chromium fails the suite; elsewhere it is skipped with the reason.
const skip = !present && process.env.CI !== 'true' ? `no Chromium at ${CHROMIUM}` : false;

let outDir = '';
let browser: Browser | undefined;

before(async () => {
  if (skip) return;
  if (!present) throw new Error(`Chromium is required under CI (looked for ${CHROMIUM})`);
  outDir = mkdtempSync(join(tmpdir(), 'switchboard-live-queries-'));
  await build({ configFile: fileURLToPath(new URL('./vite.config.ts', import.meta.url)), build: { outDir, emptyOutDir: true }, logLevel: 'error' });
  // The browser bundles hold neither the Node WebSocket (`ws`) nor the token signer (`jose`).
  for (const f of readdirSync(join(outDir, 'assets'))) {
    const js = readFileSync(join(outDir, 'assets', f), 'utf8');
    assert.ok(!js.includes('does not work in the browser') && !js.includes('SignJWT'), `${f} bundles a Node-only module`);
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
});

after(async () => {
  await browser?.close();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

async function text(page: Page, selector: string): Promise<string> {
  return (await page.textContent(selector)) ?? '';
}

async function waitText(page: Page, selector: string, pred: (t: string) => boolean, what: string, ms = 30_000): Promise<string> {
  let last = '';
  try {
    await waitFor(async () => pred((last = await text(page, selector).catch(() => ''))), ms, what);
  } catch (err) {
    throw new Error(`${(err as Error).message} (${selector} shows ${JSON.stringify(last)})`);
  }
  return last;
}

function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  return waitFor(check, ms, what);
}

async function notify(backend: Backend, path: string, textValue: string): Promise<void> {
  const res = await fetch(`${backend.url}${path}`, { method: 'POST', body: JSON.stringify({ text: textValue }) });
  assert.equal(res.status, 200, await res.text());
}

for (const kind of ['react', 'vue'] as const) {
  test(`${kind} page: connects, renders API-client publications, survives a restart, unmount ends its subscription`, { skip, timeout: 120_000 }, async () => {
    let backend = await startBackend({ staticDir: outDir, secret: SECRET, apiKey: API_KEY });
    const port = backend.port;
    const subscribes: string[] = [];
    backend.sb.on('subscribe', (_client, channel) => subscribes.push(channel));
    const page = await browser!.newPage();
    const consoleErrors: string[] = [];
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    try {
      const api = createApiClient<TrpcSchema>({ url: `${backend.url}/api`, apiKey: API_KEY });
      await page.goto(`${backend.url}/${kind}.html?user=42`);
      await waitText(page, '#state', (t) => t === 'connected', 'connected');
      // One connection for the page, subscribed to its two channels (shared, refcounted).
      await until(async () => (await api.presenceStats('trpc:user:42')).numClients === 1 && (await api.presenceStats('trpc:global')).numClients === 1, 'both subscriptions');
      assert.equal(backend.sb.counts().connections, 1, 'one connection per page');

      // A backend endpoint changes data and publishes an invalidation through the API client:
      // the page refetches and shows the new row.
      await notify(backend, '/notify/user/42', 'first notification');
      await waitText(page, '#notifications', (t) => t.includes('first notification'), 'refetched notifications');
      assert.match(await text(page, '#last-user'), /query-invalidation/);

      // A message published directly with the API client is rendered.
      await api.publish(Channels.global(), { type: 'query-invalidation', queryKey: ['global', 'from-test'] });
      await waitText(page, '#last-global', (t) => t.includes('from-test'), 'API-client message');
      // Messages re-render the components with new handler closures, and React runs effects twice
      // under Strict Mode: still exactly one server subscribe per channel.
      assert.deepEqual(subscribes.sort(), ['trpc:global', 'trpc:user:42']);

      // Restart the server on the same port: the page reconnects by itself.
      await backend.close();
      await waitText(page, '#state', (t) => t !== 'connected', 'the page noticing the restart');
      backend = await startBackend({ port, staticDir: outDir, secret: SECRET, apiKey: API_KEY });
      await waitText(page, '#state', (t) => t === 'connected', 'reconnected', 30_000);
      await until(async () => (await api.presenceStats('trpc:user:42')).numClients === 1, 'resubscribed after restart', 30_000);
      await notify(backend, '/notify/user/42', 'after restart');
      await waitText(page, '#notifications', (t) => t.includes('after restart'), 'message after restart');
      await api.publish(Channels.global(), { type: 'query-invalidation', queryKey: ['global', 'later'] });
      await waitText(page, '#last-global', (t) => t.includes('later'), 'later API-client message');

      // Unmount the notifications component: its subscription ends on the server; the feed stays.
      await page.click('#toggle');
      await until(async () => (await api.presenceStats('trpc:user:42')).numClients === 0, 'user subscription gone after unmount');
      assert.equal((await api.presenceStats('trpc:global')).numClients, 1, 'the other component keeps its subscription');
      assert.equal(backend.sb.counts().connections, 1);
      // Mount it again: a fresh subscription.
      await page.click('#toggle');
      await until(async () => (await api.presenceStats('trpc:user:42')).numClients === 1, 'resubscribed after remount');
      assert.deepEqual(consoleErrors, []);
    } finally {
      await page.close();
      await backend.close();
    }
  });
}
