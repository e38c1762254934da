import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { token } from './helpers.js';
import { startMulti } from './pond-helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// A page with no SDK at all: the browser's own WebSocket and JSON, as docs/protocols/plain-json.md shows.
const PAGE = `<!doctype html><meta charset="utf-8"><title>plain</title><script>
  window.frames_ = [];
  window.start = (url) => new Promise((resolve) => {
    const ws = new WebSocket(url);
    window.ws = ws;
    ws.onmessage = (e) => window.frames_.push(JSON.parse(e.data));
    ws.onopen = () => resolve('open');
    ws.onclose = (e) => window.frames_.push({ closed: e.code });
  });
  window.send = (v) => window.ws.send(typeof v === 'string' ? v : JSON.stringify(v));
</script>`;

test('plain JSON from a real browser page: subscribe, pushes, actions, errors, and the refusal of a bad token', async (t) => {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI === 'true') assert.fail(`Chromium not found at ${CHROMIUM}`);
    return t.skip(`Chromium not found at ${CHROMIUM}`);
  }
  const srv = await startMulti({ namespaces: { chat: { allowSubscribeForClient: true, allowPublishForSubscriber: true } } }, (sb) => {
    sb.rpc('whoami', (ctx) => ({ user: ctx.client.user }));
  });
  srv.http.removeAllListeners('request');
  srv.http.on('request', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(PAGE);
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${srv.port}/`);
    const url = `${srv.plainUrl}?token=${await token({ sub: 'browser-user' })}`;
    assert.equal(await page.evaluate((u) => (window as never as { start(u: string): Promise<string> }).start(u), url), 'open');
    const frames = async (n: number) => {
      await page.waitForFunction((k) => (window as never as { frames_: unknown[] }).frames_.length >= k, n, { timeout: 5000 });
      return page.evaluate(() => (window as never as { frames_: Record<string, unknown>[] }).frames_);
    };
    const send = (v: unknown) => page.evaluate((x) => (window as never as { send(v: unknown): void }).send(x), v as never);

    await send({ type: 'subscribe', channel: 'chat:web', id: 1 });
    await send({ action: 'whoami', id: 2 });
    await send('{broken');
    let f = await frames(4);
    assert.deepEqual(f.slice(0, 4), [
      { type: 'connected', client: f[0]!['client'], user: 'browser-user' },
      { type: 'subscribed', channel: 'chat:web', id: 1 },
      { type: 'reply', action: 'whoami', id: 2, data: { user: 'browser-user' } },
      { type: 'error', code: 107, message: 'invalid JSON' },
    ]);
    await srv.sb.publish('chat:web', { event: 'news', payload: { headline: 'it works' } });
    await srv.sb.publish('*', { event: 'everyone', payload: {} });
    f = await frames(6);
    assert.deepEqual(f[4], { channel: 'chat:web', type: 'news', data: { headline: 'it works' } });
    assert.deepEqual(f[5], { channel: '*', type: 'everyone', data: {} });

    // A bad token: the browser's handshake fails (HTTP 401 before the upgrade), close code 1006.
    const page2 = await browser.newPage();
    await page2.goto(`http://127.0.0.1:${srv.port}/`);
    await page2.evaluate((u) => void (window as never as { start(u: string): Promise<string> }).start(u), `${srv.plainUrl}?token=bad`);
    await page2.waitForFunction(() => (window as never as { frames_: { closed?: number }[] }).frames_.some((x) => x.closed !== undefined), undefined, { timeout: 5000 });
    assert.deepEqual(await page2.evaluate(() => (window as never as { frames_: unknown[] }).frames_), [{ closed: 1006 }]);
  } finally {
    await browser.close();
    await srv.close();
  }
});
