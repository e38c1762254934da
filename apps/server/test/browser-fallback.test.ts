/**
 * The demo chat in headless Chromium behind a proxy that refuses WebSocket upgrades (as some
 * corporate proxies do): the official SDK falls back to HTTP-streaming; behind one that also
 * refuses HTTP-streaming, to SSE. Two people chat across the two modes.
 */
import { existsSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startServerProcess, testConfig, writeConfig } from './helpers.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const missing = !existsSync(CHROMIUM);
const skip = missing && process.env['CI'] !== 'true' ? `Chromium not found at ${CHROMIUM}` : false;

/** A reverse proxy to `target` that answers every WebSocket upgrade with 403, and `blocked` paths with 502. */
async function proxy(target: number, blocked: string[] = []): Promise<{ base: string; refusedUpgrades: () => number; close(): Promise<void> }> {
  let refused = 0;
  const sockets = new Set<Socket>();
  const srv: Server = createServer((req, res) => {
    if (blocked.some((p) => (req.url ?? '').startsWith(p))) return void res.writeHead(502).end('blocked by the proxy');
    const up = request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  srv.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  srv.on('upgrade', (_req, socket: Socket) => {
    refused++;
    socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    refusedUpgrades: () => refused,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

async function join(page: Page, base: string, name: string): Promise<void> {
  await page.goto(base + '/');
  await page.fill('#name', name);
  await page.click('#joinForm button');
  await page.waitForSelector('#text:not([disabled])', { timeout: 30_000 });
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.click('#sendBtn');
}

const sees = (page: Page, text: string) =>
  page.waitForFunction((t) => [...document.querySelectorAll('.msg .text')].some((e) => e.textContent === t), text, { timeout: 20_000 });

test('demo chat with WebSockets refused: one page falls back to HTTP-streaming, one to SSE, and they chat', { skip, timeout: 180_000 }, async () => {
  assert.ok(!missing, `Chromium not found at ${CHROMIUM} (CI=true: this suite must run)`);
  const srv = await startServerProcess(writeConfig(testConfig({ http_stream: { enabled: true }, sse: { enabled: true } })));
  const noWs = await proxy(srv.port);
  const noWsNoStream = await proxy(srv.port, ['/connection/http_stream']);
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 30_000 });
    const alice = await (await browser.newContext()).newPage();
    const bob = await (await browser.newContext()).newPage();
    const errors: string[] = [];
    for (const p of [alice, bob]) p.on('pageerror', (e) => errors.push(e.message));

    await join(alice, noWs.base, 'Alice');
    await join(bob, noWsNoStream.base, 'Bob');
    await alice.waitForFunction(() => document.getElementById('transport')?.textContent === 'http_stream', undefined, { timeout: 20_000 });
    await bob.waitForFunction(() => document.getElementById('transport')?.textContent === 'sse', undefined, { timeout: 20_000 });
    assert.ok(noWs.refusedUpgrades() > 0 && noWsNoStream.refusedUpgrades() > 0, 'both pages tried WebSocket first');

    // Presence over emulation: each page lists both people.
    for (const p of [alice, bob]) await p.waitForFunction(() => document.querySelectorAll('#who li').length === 2, undefined, { timeout: 20_000 });

    await say(alice, 'Hi Bob, over HTTP-streaming');
    await sees(bob, 'Hi Bob, over HTTP-streaming');
    await say(bob, 'Hello Alice, over SSE');
    await sees(alice, 'Hello Alice, over SSE');
    assert.deepEqual(errors, []);
  } finally {
    await browser?.close();
    await noWs.close();
    await noWsNoStream.close();
    await srv.stop();
  }
});
