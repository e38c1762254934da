// RealtimeProvider in headless Chromium, under Strict Mode: its `url` prop changes, the client is
// recreated and the subscription moves to the new server (and leaves the old one); Strict Mode's
// double effects never reach the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createApiClient } from '@switchboard/client/server';
import { API_KEY, browserPages, pageErrors, skipBrowser as skip, startPageServer, until } from '../../client/test/browser/harness.js';

const env = browserPages({ provider: fileURLToPath(new URL('./pages/provider.tsx', import.meta.url)) });

test('a changed url prop moves the subscriptions to the new server', { skip, timeout: 90_000 }, async () => {
  const namespaces = { chat: { allowSubscribeForClient: true } };
  const a = await startPageServer({ staticDir: env.dir(), switchboard: { namespaces } });
  const b = await startPageServer({ staticDir: env.dir(), switchboard: { namespaces } });
  const subscribes = { a: 0, b: 0 };
  a.sb.on('subscribe', () => subscribes.a++);
  b.sb.on('subscribe', () => subscribes.b++);
  const apiA = createApiClient({ url: `${a.url}/api`, apiKey: API_KEY });
  const apiB = createApiClient({ url: `${b.url}/api`, apiKey: API_KEY });
  const page = await env.browser().newPage();
  const errors = pageErrors(page);
  const messages = async () => (await page.textContent('#messages')) ?? '';
  try {
    await page.goto(`${a.url}/provider.html?other=${encodeURIComponent(b.wsUrl)}`);
    await until(async () => (await page.textContent('#state')) === 'connected' && a.sb.counts().subscriptions === 1, 'subscribed on the first server');
    await apiA.publish('chat:room', { text: 'one' });
    await until(async () => (await messages()) === 'one', 'a message from the first server');

    await page.click('#switch');
    await until(() => b.sb.counts().subscriptions === 1, 'the subscription moved to the second server');
    await until(() => a.sb.counts().connections === 0, 'the old client closed its connection');
    await until(async () => (await page.textContent('#state')) === 'connected', 'connected again');
    await apiB.publish('chat:room', { text: 'two' });
    await until(async () => (await messages()) === 'one,two', 'a message from the second server');
    await apiA.publish('chat:room', { text: 'stale' }); // nobody is subscribed there any more
    await apiB.publish('chat:room', { text: 'three' });
    await until(async () => (await messages()) === 'one,two,three', 'only the new server delivers');
    assert.deepEqual(subscribes, { a: 1, b: 1 }, 'Strict Mode double effects did not reach either server');
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    await a.close();
    await b.close();
  }
});
