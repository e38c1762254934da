// @switchboard/svelte in headless Chromium: a Svelte 5 page whose connection-state store shows
// "connected", whose message stores render publications from the HTTP API client, and whose channel
// subscription ends on the server when the component using the stores is destroyed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { browserPages, skipBrowser as skip } from '../../client/test/browser/harness.js';
import { bindingPageFlow } from '../../client/test/browser/binding-page.js';

const env = browserPages({ svelte: fileURLToPath(new URL('./pages/main.ts', import.meta.url)) }, [svelte()]);

test('svelte stores: connection state, latest message and message list; the subscription ends with the component', { skip, timeout: 90_000 }, async () => {
  await bindingPageFlow(env.browser(), env.dir(), 'svelte', async (page) => {
    assert.equal(await page.textContent('#count'), '2', 'the message list store holds both');
  });
});
