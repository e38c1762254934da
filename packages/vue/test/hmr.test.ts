// Vue HMR in headless Chromium: a Vite dev server (with @vitejs/plugin-vue) serves a page whose
// component uses useLiveUpdate (the instance shared per url) and useSubscription (the plugin's
// instance) against a real Switchboard server; the test rewrites the component twice (its template
// only: re-rendered in place; then its script: unmounted and mounted again) and checks through the
// server that no subscription leaked or doubled, no connection was replaced, and that a publication
// still renders exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import vue from '@vitejs/plugin-vue';
import type { Browser, Page } from 'playwright-core';
import { startServer, token } from '../../server/test/helpers.js';
import { launch, pageErrors, skipBrowser as skip, until } from '../../client/test/browser/harness.js';
import { startDevServer, type DevServer } from '../../client/test/browser/dev-server.js';

const sourceDir = fileURLToPath(new URL('./pages/hmr/', import.meta.url));
const parentDir = fileURLToPath(new URL('./', import.meta.url));

test('Vue HMR keeps the server subscriptions and connections and one delivery per publication', { skip, timeout: 60_000 }, async (t) => {
  const srv = await startServer({ namespaces: { chat: { allowSubscribeForClient: true } } });
  // Everything the server saw, in order.
  const seen: string[] = [];
  srv.sb.on('connect', () => seen.push('connect'));
  srv.sb.on('disconnect', () => seen.push('disconnect'));
  srv.sb.on('subscribe', (_c, channel) => seen.push(`subscribe ${channel}`));
  srv.sb.on('unsubscribe', (_c, channel) => seen.push(`unsubscribe ${channel}`));
  let dev: DevServer | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  try {
    dev = await startDevServer({ sourceDir, parentDir, plugins: [vue()], optimize: ['vue', 'centrifuge'] });
    browser = await launch();
    page = await browser.newPage();
    const d = dev;
    const p = page;
    const errors = pageErrors(p);
    const text = async (id: string) => (await p.textContent(`#${id}`)) ?? '';
    const win = <T>(fn: () => T) => p.evaluate(fn);
    /** Subscriptions made after every deferred teardown an edit may have left (a macrotask later, on the same connections). */
    const probe = async (channel: string) => {
      await p.evaluate(async (ch) => {
        await new Promise((r) => setTimeout(r, 0));
        window.probe!(ch);
      }, channel);
      await until(
        () => seen.includes(`subscribe ${channel}`) && seen.includes(`subscribe ${channel}-plugin`),
        `the server saw the ${channel} subscriptions`,
      );
    };
    const received: string[] = [];
    const publish = async (msg: string) => {
      await srv.sb.publish('chat:room', { text: msg });
      await srv.sb.publish('chat:other', { text: msg });
      received.push(`room:${msg}`, `other:${msg}`);
      const expected = received.filter((r) => r.startsWith('room:')).map((r) => r.slice(5)).join(',');
      await until(async () => (await text('room')) === expected && (await text('other')) === expected, `"${expected}" rendered twice`);
      // two connections: the order holds per channel, not across them
      const calls = await win(() => window.received);
      for (const ch of ['room:', 'other:']) {
        assert.deepEqual(calls.filter((c) => c.startsWith(ch)), received.filter((r) => r.startsWith(ch)), 'each publication reached each handler once');
      }
      assert.equal(calls.length, received.length);
    };
    const start = ['connect', 'connect', 'subscribe chat:other', 'subscribe chat:room'];
    const sorted = (xs: string[]) => [...xs].sort();

    await p.goto(`${d.url}/?ws=${encodeURIComponent(srv.url)}&token=${encodeURIComponent(await token({ sub: 'u1' }))}`);
    await until(async () => (await text('state')) === 'connected' && sorted(seen).join() === start.join(), 'connected and subscribed');
    assert.equal(srv.sb.counts().connections, 2, 'one connection for useLiveUpdate, one for the plugin');
    await publish('one');
    await p.evaluate(() => {
      window.marker = 'same document';
    });
    const mounts = [await win(() => window.mounts)];

    // 1. A template edit: the component is re-rendered in place.
    d.edit('Live.vue', (s) => s.replace('version one', 'version two'));
    await until(async () => (await text('label')) === 'version two', 'the edit applied');
    assert.equal(await win(() => window.marker), 'same document', 'a hot update, not a full reload');
    mounts.push(await win(() => window.mounts));
    await probe('chat:probe-1');
    const afterProbe1 = [...start, 'subscribe chat:probe-1', 'subscribe chat:probe-1-plugin'];
    assert.deepEqual(sorted(seen), sorted(afterProbe1), 'no unsubscribe, no second subscribe, the same connections');
    assert.deepEqual(srv.sb.counts().connections, 2);
    assert.equal(srv.sb.counts().subscriptions, 4);
    await publish('two');

    // 2. A script edit: the component is unmounted and mounted again (its setup runs again).
    d.edit('Live.vue', (s) => s.replace('version two', 'version three').replace("'script one'", "'script two'"));
    await until(async () => (await text('label')) === 'version three' && (await text('version')) === 'script two', 'the second edit applied');
    assert.equal(await win(() => window.marker), 'same document', 'a hot update, not a full reload');
    mounts.push(await win(() => window.mounts));
    assert.ok(mounts[2]! > mounts[1]!, 'the component was mounted again');
    await probe('chat:probe-2');
    assert.deepEqual(
      sorted(seen),
      sorted([...afterProbe1, 'subscribe chat:probe-2', 'subscribe chat:probe-2-plugin']),
      'the remount reached the server neither: the same connections, no unsubscribe, no second subscribe',
    );
    assert.equal(srv.sb.counts().connections, 2);
    assert.equal(srv.sb.counts().subscriptions, 6);
    await publish('three');
    assert.deepEqual(errors, []);
    t.diagnostic(`mount runs after load, template edit, script edit: ${mounts.join(', ')}`);
  } finally {
    await page?.close();
    await browser?.close();
    await dev?.close();
    await srv.close();
  }
});
