// Origin and transport: the allowed-origins check (wildcards) refuses before the upgrade with 403,
// on every protocol's endpoint; wss:// works on an https server with a certificate made here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { generate } from 'selfsigned';
import WebSocket, { type ClientOptions } from 'ws';
import { createSwitchboard } from '../../src/index.js';
import { startServer, token, until } from '../helpers.js';

function upgrade(url: string, origin: string | undefined): Promise<{ ok: boolean; status?: number; body?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, origin === undefined ? {} : { headers: { Origin: origin } });
    ws.once('open', () => {
      ws.terminate();
      resolve({ ok: true });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ ok: false, status: res.statusCode!, body }));
    });
    ws.once('error', () => {});
  });
}

test('allowed origins with wildcards: refused before the upgrade with 403 on every protocol; non-browser clients (no Origin) pass', async () => {
  const srv = await startServer({ allowAnonymous: true, allowedOrigins: ['https://*.example.com', 'http://localhost:3000'] });
  srv.sb.attach(srv.http, { path: '/api/socket', protocol: 'pond' });
  srv.sb.attach(srv.http, { path: '/ws', protocol: 'plain' });
  let connects = 0;
  srv.sb.on('connect', () => void connects++);
  try {
    const base = `ws://127.0.0.1:${srv.port}`;
    for (const path of ['/connection/websocket', '/api/socket', '/ws']) {
      for (const origin of ['https://app.example.com', 'https://a.b.example.com', 'HTTPS://APP.EXAMPLE.COM', 'http://localhost:3000', undefined]) {
        assert.equal((await upgrade(base + path, origin)).ok, true, `${path} ${origin} accepted`);
      }
      for (const origin of ['https://example.com', 'http://app.example.com', 'https://app.example.com.evil.com', 'https://evil.com', 'https://evilexample.com', 'http://localhost:3001', 'null']) {
        const r = await upgrade(base + path, origin);
        assert.equal(r.ok, false, `${path} ${origin} refused`);
        assert.equal(r.status, 403);
        assert.deepEqual(JSON.parse(r.body!), { error: { code: 403, message: 'origin not allowed' } });
      }
    }
    // Refused upgrades never became connections (pond and plain authenticate at the upgrade:
    // only the accepted ones reached `connect`).
    await until(() => srv.sb.counts().connections === 0, 3000, 'accepted test connections gone');
    assert.equal(connects, 10, 'only accepted pond/plain upgrades were registered');
    assert.equal(srv.sb.counts().pendingUpgrades, 0);
  } finally {
    await srv.close();
  }
});

test('wss:// on an https server with a self-signed certificate: the native protocol and plain JSON work end to end', async () => {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keySize: 2048, algorithm: 'sha256' });
  const https = createHttpsServer({ key: pems.private, cert: pems.cert });
  const sb = createSwitchboard({ token: { hmacSecret: 'test-secret-key-for-hs256-signing' }, namespaces: { chat: { allowSubscribeForClient: true } } });
  sb.attach(https, '/connection/websocket');
  sb.attach(https, { path: '/ws', protocol: 'plain' });
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
  const port = (https.address() as AddressInfo).port;
  try {
    // A client that does not trust the certificate is refused by TLS itself.
    const untrusted = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`wss://127.0.0.1:${port}/connection/websocket`);
      ws.once('open', () => resolve('open'));
      ws.once('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message));
    });
    assert.notEqual(untrusted, 'open');

    // ws hands its options on to tls.connect, so servername (the certificate is for localhost, the address is
    // 127.0.0.1) works, but its ClientOptions type does not list it: add it from tls's own options type.
    const tlsOptions: ClientOptions & Pick<ConnectionOptions, 'servername'> = { ca: pems.cert, servername: 'localhost' };
    const ws = new WebSocket(`wss://127.0.0.1:${port}/connection/websocket`, tlsOptions);
    const lines: Record<string, unknown>[] = [];
    ws.on('message', (d) => {
      for (const l of (d as Buffer).toString().split('\n')) if (l) lines.push(JSON.parse(l));
    });
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    ws.send(JSON.stringify({ id: 1, connect: { token: await token({ sub: 'alice' }) } }) + '\n' + JSON.stringify({ id: 2, subscribe: { channel: 'chat:tls' } }));
    await until(() => lines.some((m) => m['id'] === 2), 5000, 'subscribed over TLS');
    await sb.publish('chat:tls', { secure: true });
    await until(() => lines.some((m) => (m['push'] as { pub?: unknown } | undefined)?.pub !== undefined), 5000, 'publication over TLS');
    const push = lines.find((m) => m['push'])!['push'] as { channel: string; pub: { data: unknown } };
    assert.deepEqual(push, { channel: 'chat:tls', pub: { data: { secure: true } } });
    ws.terminate();

    const plain = new WebSocket(`wss://127.0.0.1:${port}/ws?token=${await token({ sub: 'bob' })}`, tlsOptions);
    const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
      plain.once('message', (d) => resolve(JSON.parse((d as Buffer).toString())));
      plain.once('error', reject);
    });
    assert.equal(first['type'], 'connected');
    assert.equal(first['user'], 'bob');
    plain.terminate();
  } finally {
    await sb.shutdown({ timeoutMs: 200 });
    https.closeAllConnections();
    await new Promise<void>((r) => https.close(() => r()));
  }
});
