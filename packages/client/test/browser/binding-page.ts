// The flow every framework-binding page is tested with (Svelte, Solid): the page shows the
// connection state in #state and the latest `chat:room` message in #last, and #toggle destroys and
// recreates the component holding the subscription.
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { createApiClient } from '@switchboard/client/server';
import { API_KEY, pageErrors, startPageServer, until } from './harness.js';

export async function bindingPageFlow(browser: Browser, staticDir: string, name: string, more?: (page: Page) => Promise<void>): Promise<void> {
  const server = await startPageServer({ staticDir, switchboard: { namespaces: { chat: { allowSubscribeForClient: true } } } });
  const api = createApiClient({ url: `${server.url}/api`, apiKey: API_KEY });
  const page = await browser.newPage();
  const errors = pageErrors(page);
  const text = async (sel: string) => (await page.textContent(sel)) ?? '';
  try {
    await page.goto(`${server.url}/${name}.html`);
    await until(async () => (await text('#state')) === 'connected', 'the connection state shows connected');
    await until(async () => (await api.channels())['chat:room']?.numClients === 1, 'one server subscription');
    await api.publish('chat:room', { text: 'hello' });
    await api.publish('chat:room', { text: name });
    await until(async () => (await text('#last')) === name, 'the latest message rendered');
    await more?.(page);
    await page.click('#toggle');
    await until(async () => (await api.channels())['chat:room'] === undefined, 'unsubscribed when the component went away');
    assert.equal(await text('#state'), 'connected');
    await page.click('#toggle');
    await until(async () => (await api.channels())['chat:room']?.numClients === 1, 'subscribed again');
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    await server.close();
  }
}
