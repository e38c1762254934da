// @switchboard/svelte in headless Chromium: a Svelte 5 page whose connection-state store shows
// "connected", whose message stores render publications from the HTTP API client, and whose channel
// subscription ends on the server when the component using the stores is destroyed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { createApiClient } from '@switchboard/client/server';
import { API_KEY, bundle, launch, pageErrors, skipBrowser as skip, startPageServer, until } from '../../client/test/browser/harness.js';

let pages: { dir: string; remove(): void } | undefined;
let browser: Browser | undefined;

before(async () => {
  if (skip) return;
  pages = await bundle({ svelte: fileURLToPath(new URL('./pages/main.ts', import.meta.url)) }, [svelte()]);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  pages?.remove();
});

test('svelte stores: connection state, latest message and message list; the subscription ends with the component', { skip, timeout: 90_000 }, async () => {
  const server = await startPageServer({ staticDir: pages!.dir, switchboard: { namespaces: { chat: { allowSubscribeForClient: true } } } });
  const api = createApiClient({ url: `${server.url}/api`, apiKey: API_KEY });
  const page = await browser!.newPage();
  const errors = pageErrors(page);
  const text = async (sel: string) => (await page.textContent(sel)) ?? '';
  try {
    await page.goto(`${server.url}/svelte.html`);
    await until(async () => (await text('#state')) === 'connected', 'the state store says connected');
    await until(async () => (await api.channels())['chat:room']?.numClients === 1, 'one server subscription for both stores');
    await api.publish('chat:room', { text: 'hello' });
    await api.publish('chat:room', { text: 'svelte' });
    await until(async () => (await text('#last')) === 'svelte' && (await text('#count')) === '2', 'stores updated');
    await page.click('#toggle');
    await until(async () => (await api.channels())['chat:room'] === undefined, 'unsubscribed when the component was destroyed');
    assert.equal(await text('#state'), 'connected');
    await page.click('#toggle');
    await until(async () => (await api.channels())['chat:room']?.numClients === 1, 'subscribed again');
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    await server.close();
  }
});
