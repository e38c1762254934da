// @switchboard/solid in headless Chromium: a Solid page whose connection-state signal shows
// "connected", whose latest-message signal renders publications from the HTTP API client, and whose channel
// subscription ends on the server when the component holding it is disposed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { createApiClient } from '@switchboard/client/server';
import { API_KEY, bundle, launch, pageErrors, skipBrowser as skip, startPageServer, until } from '../../client/test/browser/harness.js';

let pages: { dir: string; remove(): void } | undefined;
let browser: Browser | undefined;

before(async () => {
  if (skip) return;
  pages = await bundle({ solid: fileURLToPath(new URL('./pages/main.ts', import.meta.url)) });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  pages?.remove();
});

test('solid signals: connection state and latest message; the subscription ends with the component', { skip, timeout: 90_000 }, async () => {
  const server = await startPageServer({ staticDir: pages!.dir, switchboard: { namespaces: { chat: { allowSubscribeForClient: true } } } });
  const api = createApiClient({ url: `${server.url}/api`, apiKey: API_KEY });
  const page = await browser!.newPage();
  const errors = pageErrors(page);
  const text = async (sel: string) => (await page.textContent(sel)) ?? '';
  try {
    await page.goto(`${server.url}/solid.html`);
    await until(async () => (await text('#state')) === 'connected', 'the state signal says connected');
    await until(async () => (await api.channels())['chat:room']?.numClients === 1, 'subscribed');
    await api.publish('chat:room', { text: 'hello' });
    await api.publish('chat:room', { text: 'solid' });
    await until(async () => (await text('#last')) === 'solid', 'the signal updated');
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
