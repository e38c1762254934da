// React Fast Refresh in headless Chromium: a Vite dev server (with @vitejs/plugin-react) serves a page
// with RealtimeProvider + useSubscription under Strict Mode, connected to a real Switchboard server;
// the test rewrites the component module three times (an edit that keeps the component's state; one
// that changes its hooks and so remounts it; one that remounts the provider) and checks through the
// server that the subscription neither leaked nor doubled (and, when the provider remounts, moved to
// its new connection) and that a publication still renders exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import type { Browser, Page } from 'playwright-core';
import { startServer, token } from '../../server/test/helpers.js';
import { launch, pageErrors, skipBrowser as skip, until } from '../../client/test/browser/harness.js';
import { startDevServer, type DevServer } from '../../client/test/browser/dev-server.js';

const sourceDir = fileURLToPath(new URL('./pages/refresh/', import.meta.url));
const parentDir = fileURLToPath(new URL('./', import.meta.url));

test('fast refresh keeps one server subscription and one delivery per publication', { skip, timeout: 60_000 }, async (t) => {
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
    dev = await startDevServer({
      sourceDir,
      parentDir,
      plugins: [react()],
      optimize: ['react', 'react/jsx-dev-runtime', 'react-dom/client', 'centrifuge'],
    });
    browser = await launch();
    page = await browser.newPage();
    const d = dev;
    const p = page;
    const errors = pageErrors(p);
    const text = async (id: string) => (await p.textContent(`#${id}`)) ?? '';
    const win = <T>(fn: () => T) => p.evaluate(fn);
    /** A subscription made after every deferred teardown the edit may have left (a macrotask later, on the same connection). */
    const probe = async (channel: string) => {
      await p.evaluate(async (ch) => {
        await new Promise((r) => setTimeout(r, 0));
        window.probe!(ch);
      }, channel);
      await until(() => seen.includes(`subscribe ${channel}`), `the server saw the ${channel} subscription`);
    };
    const publish = async (msg: string, expected: string) => {
      await srv.sb.publish('chat:room', { text: msg });
      await until(async () => (await text('messages')) === expected, `"${expected}" rendered`);
      assert.deepEqual(await win(() => window.received), expected.split(','), 'each publication reached the handler once');
    };

    await p.goto(`${d.url}/?ws=${encodeURIComponent(srv.url)}&token=${encodeURIComponent(await token({ sub: 'u1' }))}`);
    await until(async () => (await text('state')) === 'connected' && seen.includes('subscribe chat:room'), 'connected and subscribed');
    await publish('one', 'one');
    await p.evaluate(() => {
      window.marker = 'same document';
    });
    const mounts = [await win(() => window.mounts)];

    // 1. A text edit: fast refresh keeps the component's state.
    d.edit('App.tsx', (s) => s.replace('version one', 'version two'));
    await until(async () => (await text('label')) === 'version two', 'the edit applied');
    assert.equal(await win(() => window.marker), 'same document', 'a hot update, not a full reload');
    mounts.push(await win(() => window.mounts));
    await probe('chat:probe-1');
    assert.deepEqual(seen, ['connect', 'subscribe chat:room', 'subscribe chat:probe-1'], 'no unsubscribe, no second subscribe, same connection');
    assert.equal(srv.sb.counts().connections, 1);
    assert.equal(srv.sb.counts().subscriptions, 2, 'chat:room once, plus the probe');
    await publish('two', 'one,two');

    // 2. An edit that adds a hook: fast refresh remounts the component (its effects clean up and run again).
    d.edit('App.tsx', (s) =>
      s
        .replace('version two', 'version three')
        .replace("import { useEffect } from 'react';", "import { useEffect, useState } from 'react';")
        .replace('const rt = useRealtime();', 'const rt = useRealtime();\n  const [extra] = useState(3);\n  void extra;'),
    );
    await until(async () => (await text('label')) === 'version three', 'the second edit applied');
    assert.equal(await win(() => window.marker), 'same document', 'a hot update, not a full reload');
    mounts.push(await win(() => window.mounts));
    assert.ok(mounts[2]! > mounts[1]!, 'the component was mounted again');
    await probe('chat:probe-2');
    assert.deepEqual(
      seen,
      ['connect', 'subscribe chat:room', 'subscribe chat:probe-1', 'subscribe chat:probe-2'],
      'the remount did not reach the server either',
    );
    assert.equal(srv.sb.counts().connections, 1);
    assert.equal(srv.sb.counts().subscriptions, 3);
    await publish('three', 'one,two,three');

    // 3. An edit that adds a hook to App: fast refresh remounts App and so the RealtimeProvider in it.
    // Its new instance makes a new connection and the subscription moves there; the old one closes.
    const before = seen.length;
    d.edit('App.tsx', (s) =>
      s.replace('version three', 'version four').replace('export default function App() {', 'export default function App() {\n  const [extra] = useState(4);\n  void extra;'),
    );
    await until(async () => (await text('label')) === 'version four', 'the third edit applied');
    assert.equal(await win(() => window.marker), 'same document', 'a hot update, not a full reload');
    await probe('chat:probe-3');
    await until(() => srv.sb.counts().connections === 1 && srv.sb.counts().subscriptions === 2, 'the old connection closed');
    const moved = seen.slice(before);
    assert.deepEqual(moved.filter((e) => e === 'connect' || e === 'disconnect').sort(), ['connect', 'disconnect'], 'one new connection, the old one closed');
    assert.deepEqual(moved.filter((e) => e.startsWith('subscribe')).sort(), ['subscribe chat:probe-3', 'subscribe chat:room'], 'subscribed once on the new connection');
    await until(async () => (await text('state')) === 'connected', 'connected again');
    await publish('four', 'one,two,three,four');
    assert.deepEqual(errors, []);
    t.diagnostic(`mount effect runs after load (Strict Mode), text edit, hook edit: ${mounts.join(', ')}`);
  } finally {
    await page?.close();
    await browser?.close();
    await dev?.close();
    await srv.close();
  }
});
