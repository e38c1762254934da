// Vue HMR in headless Chromium: a page served by Vite's dev server with @vitejs/plugin-vue, whose
// single-file component calling `useSubscription` has its script edited on disk while it runs. Vue's
// HMR unmounts the old component and mounts the new one in the same update (its state starts over):
// the server must see no second subscribe and no new connection, and the new component's handler
// receives the next publication.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, defaultClientConditions, type ViteDevServer } from 'vite';
import vue from '@vitejs/plugin-vue';
import { createApiClient } from '@switchboard/client/server';
import { API_KEY, launch, pageErrors, skipBrowser as skip, startPageServer, until, type PageServer } from '../../client/test/browser/harness.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TEMPLATE = fileURLToPath(new URL('./pages/hmr/', import.meta.url));

test('HMR of a component with useSubscription: no new subscribe or connection, the new component receives', { skip, timeout: 120_000 }, async () => {
  // A copy inside the package, so the page's imports resolve through the workspace's node_modules.
  const dir = mkdtempSync(join(fileURLToPath(new URL('.', import.meta.url)), '.hmr-'));
  cpSync(TEMPLATE, dir, { recursive: true });
  let server: PageServer | undefined;
  let vite: ViteDevServer | undefined;
  const browser = await launch();
  try {
    server = await startPageServer({ staticDir: dir, switchboard: { namespaces: { chat: { allowSubscribeForClient: true } } } });
    let subscribes = 0;
    let connects = 0;
    server.sb.on('subscribe', () => subscribes++);
    server.sb.on('connect', () => connects++);
    vite = await createServer({
      configFile: false,
      root: dir,
      cacheDir: join(dir, '.vite'),
      logLevel: 'error',
      plugins: [vue()],
      resolve: { conditions: ['source', ...defaultClientConditions] },
      server: { host: '127.0.0.1', port: 0, fs: { allow: [ROOT] }, proxy: { '/token': server.url } },
    });
    await vite.listen();
    const pageUrl = vite.resolvedUrls!.local[0]!;
    const api = createApiClient({ url: `${server.url}/api`, apiKey: API_KEY });
    const page = await browser.newPage();
    const errors = pageErrors(page);
    const text = async (sel: string) => (await page.textContent(sel)) ?? '';
    const sb = server.sb;

    await page.goto(`${pageUrl}?ws=${encodeURIComponent(server.wsUrl)}`);
    await until(async () => (await text('#state')) === 'connected' && sb.counts().subscriptions === 1, 'connected and subscribed', 60_000);
    await api.publish('chat:room', { text: 'one' });
    await until(async () => (await text('#messages')) === 'v1:one', 'the first message');
    // A marker a full reload would wipe: what follows must be a hot update, not a reload.
    await page.evaluate(() => ((window as unknown as { refreshMarker: number }).refreshMarker = 1));

    const feed = join(dir, 'Feed.vue');
    const source = readFileSync(feed, 'utf8');
    assert.equal(source.match(/v1/g)?.length, 2, 'the label and the handler prefix');
    writeFileSync(feed, source.replaceAll('v1', 'v2'));
    await until(async () => (await text('#label')) === 'v2', 'the edited component on the page', 30_000);
    assert.equal(await page.evaluate(() => (window as unknown as { refreshMarker?: number }).refreshMarker), 1, 'a hot update, not a reload');
    assert.equal(await text('#messages'), '', 'a new instance of the component (its state starts over)');

    await api.publish('chat:room', { text: 'two' });
    await until(async () => (await text('#messages')) === 'v2:two', "the new component's handler receives the next message");
    assert.equal(subscribes, 1, 'the unmount and the new mount did not subscribe again on the server');
    assert.equal(connects, 1, 'nor open another connection');
    assert.deepEqual(sb.counts().subscriptions, 1);
    assert.equal(await text('#state'), 'connected');
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    await browser.close();
    await vite?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
