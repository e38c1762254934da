// Half-open and idle sockets, each closed within its timeout (short timeouts here), and the
// connection limit under a flood.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect as tcpConnect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { createSwitchboard } from '../../src/index.js';
import { RawClient, startServer, until } from '../helpers.js';
import { connectNative } from './native.js';

function rawTcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

function closedWithin(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    s.on('data', (d) => (data += d.toString()));
    s.on('close', () => resolve(data));
  });
}

test('an HTTP connection that never finishes its upgrade request is closed by the http server timeouts (headersTimeout)', async () => {
  const sb = createSwitchboard({ allowAnonymous: true });
  // What the library asks of the app's http server (and what the standalone server sets): short header/request timeouts.
  const http = createServer({ headersTimeout: 300, requestTimeout: 600, connectionsCheckingInterval: 50 });
  sb.attach(http);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  try {
    const s = await rawTcp(port);
    const done = closedWithin(s);
    // Half an upgrade request, then silence.
    s.write('GET /connection/websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
    const answer = await done;
    assert.match(answer, /^HTTP\/1\.1 408/, 'answered 408 Request Timeout, then closed');
    assert.equal(sb.counts().pendingUpgrades, 0);
    assert.equal(sb.counts().connections, 0);
  } finally {
    await sb.shutdown({ timeoutMs: 100 });
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
  }
});

test('an upgrade whose authentication never completes is cut at handshakeTimeoutMs', async () => {
  const srv = await startServer({ allowAnonymous: true, limits: { handshakeTimeoutMs: 300 } });
  // A connect handler that never decides (a stuck auth backend).
  srv.sb.attach(srv.http, { path: '/ws', protocol: 'plain', onConnecting: () => new Promise(() => {}) });
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws`);
    const outcome = await new Promise<string>((resolve) => {
      ws.on('open', () => resolve('open'));
      ws.on('error', (e) => resolve(`error ${e.message}`));
      ws.on('unexpected-response', (_q, res) => resolve(`http ${res.statusCode}`));
    });
    assert.match(outcome, /^error/, `the socket was destroyed before any upgrade (${outcome})`);
    await until(() => srv.sb.counts().pendingUpgrades === 0, 2000, 'pending upgrade forgotten');
    assert.equal(srv.sb.counts().connections, 0);
  } finally {
    await srv.close();
  }
});

test('an upgraded socket that never sends connect is closed with 3502 stale after connectTimeoutMs', async () => {
  const srv = await startServer({ allowAnonymous: true, limits: { connectTimeoutMs: 300 }, pingIntervalMs: 400, pongTimeoutMs: 400 });
  try {
    const c = new RawClient(srv.url);
    await c.opened;
    const closed = await c.waitClose(5000);
    assert.equal(closed.code, 3502);
    assert.equal(closed.reason, 'stale');
    assert.equal(srv.sb.counts().connections, 0);
  } finally {
    await srv.close();
  }
});

test('a native client that stops answering pings is closed with 3012 no pong', async () => {
  const srv = await startServer({ allowAnonymous: true, pingIntervalMs: 300, pongTimeoutMs: 300 });
  try {
    const { c, client } = await connectNative(srv.url, undefined);
    // The peer vanishes: it reads nothing more and answers nothing (no FIN is sent).
    c.ws.pause();
    await until(() => srv.sb.getConnection(client) === undefined, 5000, 'server dropped the silent peer');
    assert.equal(srv.sb.stats.disconnects.get(3012), 1);
    c.close();
  } finally {
    await srv.close();
  }
});

for (const protocol of ['pond', 'plain'] as const) {
  test(`a ${protocol} client whose WebSocket stops answering pings is dropped (ws-level keepalive)`, async () => {
    const srv = await startServer({ allowAnonymous: true, pingIntervalMs: 300, pongTimeoutMs: 300 });
    srv.sb.attach(srv.http, { path: '/other', protocol });
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/other`);
      await new Promise((r) => ws.once('open', r));
      await until(() => srv.sb.counts().connections === 1, 2000, 'registered');
      // Stop reading: the ws library can no longer answer the server's pings.
      ws.pause();
      await until(() => srv.sb.counts().connections === 0, 5000, 'server dropped the silent peer');
      assert.equal(srv.sb.stats.disconnects.get(3000), 1);
      ws.terminate();
    } finally {
      await srv.close();
    }
  });
}

test('maxConnections holds under a connection flood; the excess gets HTTP 503 with a message', async () => {
  const srv = await startServer({ allowAnonymous: true, limits: { maxConnections: 20 } });
  try {
    const results = await Promise.all(
      Array.from(
        { length: 120 },
        () =>
          new Promise<{ ws: WebSocket; ok: boolean; status?: number; body?: string }>((resolve) => {
            const ws = new WebSocket(srv.url);
            ws.once('open', () => resolve({ ws, ok: true }));
            ws.once('unexpected-response', (_req, res) => {
              let body = '';
              res.on('data', (d: Buffer) => (body += d.toString()));
              res.on('end', () => resolve({ ws, ok: false, status: res.statusCode!, body }));
            });
            ws.once('error', () => {});
          }),
      ),
    );
    const ok = results.filter((r) => r.ok);
    const refused = results.filter((r) => !r.ok);
    assert.equal(ok.length, 20, 'exactly the limit got in');
    assert.equal(refused.length, 100);
    for (const r of refused) {
      assert.equal(r.status, 503);
      assert.deepEqual(JSON.parse(r.body!), { error: { code: 503, message: 'connection limit reached' } });
    }
    assert.ok(srv.sb.counts().connections <= 20);
    // Room again once some leave.
    for (const r of ok.slice(0, 5)) r.ws.terminate();
    await until(() => srv.sb.counts().connections === 15, 3000, 'five left');
    const again = new RawClient(srv.url);
    await again.opened;
    again.close();
    for (const r of results) r.ws.terminate();
  } finally {
    await srv.close();
  }
});
