// @switchboard/solid in headless Chromium: a Solid page whose connection-state signal shows
// "connected", whose latest-message signal renders publications from the HTTP API client, and whose
// channel subscription ends on the server when the component holding it is disposed.
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { browserPages, skipBrowser as skip } from '../../client/test/browser/harness.js';
import { bindingPageFlow } from '../../client/test/browser/binding-page.js';

const env = browserPages({ solid: fileURLToPath(new URL('./pages/main.ts', import.meta.url)) });

test('solid signals: connection state and latest message; the subscription ends with the component', { skip, timeout: 90_000 }, async () => {
  await bindingPageFlow(env.browser(), env.dir(), 'solid');
});
