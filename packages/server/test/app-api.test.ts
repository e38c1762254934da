import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import WebSocket from 'ws';
import { createSwitchboard, Disconnects, ReplyError, type CommandContext } from '../src/index.js';
import { once, RawClient, sdk, startServer, token, until } from './helpers.js';

const open = { allowSubscribeForClient: true, allowPublishForClient: true };

test('onConnecting accepts with the identity and assigns it chooses, or declines with a code', async () => {
  const srv = await startServer({}, (sb) => {
    sb.onConnecting((ctx) => {
      const d = ctx.data as { password?: string } | undefined;
      if (d?.password === 'open sesame') ctx.accept({ user: 'ali', assigns: { role: 'admin' }, info: { name: 'Ali' } });
      else if (d?.password === 'banned') ctx.decline(4501, 'banned');
      else ctx.decline(403, 'wrong password');
    });
  });
  try {
    const ok = sdk(srv.url, { data: { password: 'open sesame' } });
    const id = (await new Promise<{ client: string }>((r) => { ok.once('connected', r); ok.connect(); })).client;
    const conn = srv.sb.liveConnection(id)!;
    assert.equal(conn.user, 'ali');
    assert.deepEqual(conn.assigns, { role: 'admin' });
    assert.equal(conn.info, '{"name":"Ali"}');
    ok.disconnect();
    const no = sdk(srv.url, { data: { password: 'guess' } });
    const d1 = once<{ code: number; reason: string }>(no, 'disconnected');
    no.connect();
    assert.equal((await d1).code, 101, 'an HTTP-style decline is error 101 unauthorized for the native protocol');
    const banned = sdk(srv.url, { data: { password: 'banned' } });
    const d2 = once<{ code: number; reason: string }>(banned, 'disconnected');
    banned.connect();
    const ctx2 = await d2;
    assert.equal(ctx2.code, 4501);
    assert.equal(ctx2.reason, 'banned');
  } finally {
    await srv.close();
  }
});

test('hooks see connect, subscribe, publish, unsubscribe, message and disconnect; middleware sees every command', async () => {
  const events: string[] = [];
  const kinds: string[] = [];
  const srv = await startServer({ namespaces: { room: open } }, (sb) => {
    sb.on('connect', (c) => events.push(`connect:${c.user}`));
    sb.on('subscribe', (_c, ch) => events.push(`subscribe:${ch}`));
    sb.on('publish', (ch) => events.push(`publish:${ch}`));
    sb.on('unsubscribe', (_c, ch) => events.push(`unsubscribe:${ch}`));
    sb.on('message', (_c, data) => events.push(`message:${JSON.stringify(data)}`));
    sb.on('disconnect', (_c, d) => events.push(`disconnect:${d.code}`));
    sb.use(async (ctx: CommandContext, next) => {
      kinds.push(ctx.kind);
      await next();
    });
  });
  try {
    const c = sdk(srv.url, { token: await token({ sub: 'hooked' }) });
    c.connect();
    const sub = c.newSubscription('room:1');
    const s = once(sub, 'subscribed');
    sub.subscribe();
    await s;
    await sub.publish({ a: 1 });
    await c.send({ hello: 'server' });
    sub.unsubscribe();
    await until(() => events.includes('unsubscribe:room:1') && events.includes('message:{"hello":"server"}'));
    c.disconnect();
    await until(() => events.some((e) => e.startsWith('disconnect:')));
    assert.deepEqual(events.slice(0, 3), ['connect:hooked', 'subscribe:room:1', 'publish:room:1']);
    for (const k of ['connect', 'subscribe', 'publish', 'message', 'unsubscribe']) assert.ok(kinds.includes(k), `middleware saw ${k}`);
  } finally {
    await srv.close();
  }
});

test('middleware can refuse a command with a coded error, and an exception in a handler becomes error 100 without killing the connection', async () => {
  const errors: Error[] = [];
  const srv = await startServer({ namespaces: { room: open } }, (sb) => {
    sb.use(async (ctx, next) => {
      if (ctx.kind === 'publish' && (ctx.data as { bad?: boolean })?.bad) throw new ReplyError(4003, 'refused by middleware');
      await next();
    });
    sb.rpc('boom', async () => {
      throw new Error('handler bug');
    });
    sb.on('error', (e) => errors.push(e));
  });
  try {
    const c = sdk(srv.url, { token: await token({ sub: 'm' }) });
    c.connect();
    const sub = c.newSubscription('room:1');
    const s = once(sub, 'subscribed');
    sub.subscribe();
    await s;
    await assert.rejects(sub.publish({ bad: true }), (e: { code: number }) => e.code === 4003);
    await assert.rejects(c.rpc('boom', {}), (e: { code: number }) => e.code === 100);
    assert.equal(errors[0]?.message, 'handler bug');
    await sub.publish({ bad: false });
    assert.equal(c.state, 'connected');
    c.disconnect();
  } finally {
    await srv.close();
  }
});

test('onSubscribe and onPublish decide for channels without a route', async () => {
  const srv = await startServer({ namespaces: { vip: {} } }, (sb) => {
    sb.onSubscribe((ctx) => (ctx.client.user === 'vip' ? ctx.accept({ data: { welcome: true } }) : ctx.decline(403, 'members only')));
    sb.onPublish((ctx) => ctx.client.user === 'vip' && (ctx.data as { ok?: boolean }).ok === true);
  });
  try {
    const vip = sdk(srv.url, { token: await token({ sub: 'vip' }) });
    vip.connect();
    const sub = vip.newSubscription('vip:lounge');
    const s = once<{ data: unknown }>(sub, 'subscribed');
    sub.subscribe();
    assert.deepEqual((await s).data, { welcome: true });
    await sub.publish({ ok: true });
    await assert.rejects(sub.publish({ ok: false }), (e: { code: number }) => e.code === 103);
    const other = sdk(srv.url, { token: await token({ sub: 'pleb' }) });
    other.connect();
    const sub2 = other.newSubscription('vip:lounge');
    const u = once<{ code: number; reason: string }>(sub2, 'unsubscribed');
    sub2.subscribe();
    const ctx = await u;
    assert.equal(ctx.code, 103);
    assert.equal(ctx.reason, 'members only');
    vip.disconnect();
    other.disconnect();
  } finally {
    await srv.close();
  }
});

test('server-side subscribe and unsubscribe of a user reach all its connections', async () => {
  const srv = await startServer({ namespaces: { alerts: {} } });
  try {
    const t = await token({ sub: 'u1' });
    const a = sdk(srv.url, { token: t });
    const b = sdk(srv.url, { token: t });
    a.connect();
    b.connect();
    await Promise.all([once(a, 'connected'), once(b, 'connected')]);
    const sa = once<{ channel: string }>(a, 'subscribed');
    const sbb = once<{ channel: string }>(b, 'subscribed');
    await srv.sb.subscribeUser({ user: 'u1' }, 'alerts:u1');
    assert.equal((await sa).channel, 'alerts:u1');
    await sbb;
    const pa = once<{ data: unknown }>(a, 'publication');
    await srv.sb.publish('alerts:u1', { x: 1 });
    assert.deepEqual((await pa).data, { x: 1 });
    const ua = once<{ channel: string }>(a, 'unsubscribed');
    await srv.sb.unsubscribeUser({ user: 'u1' }, 'alerts:u1');
    assert.equal((await ua).channel, 'alerts:u1');
    await until(() => srv.sb.counts().subscriptions === 0);
    a.disconnect();
    b.disconnect();
  } finally {
    await srv.close();
  }
});

test('user-limited channels admit only the listed users', async () => {
  const srv = await startServer({ namespaces: { dialog: { allowUserLimitedChannels: true } } });
  try {
    const ok = sdk(srv.url, { token: await token({ sub: '42' }) });
    ok.connect();
    const s1 = ok.newSubscription('dialog:#42,43');
    const p1 = once(s1, 'subscribed');
    s1.subscribe();
    await p1;
    const no = sdk(srv.url, { token: await token({ sub: '44' }) });
    no.connect();
    const s2 = no.newSubscription('dialog:#42,43');
    const p2 = once<{ code: number }>(s2, 'unsubscribed');
    s2.subscribe();
    assert.equal((await p2).code, 103);
    ok.disconnect();
    no.disconnect();
  } finally {
    await srv.close();
  }
});

test('limits: channels per connection (106), subscribers per channel (106), connections (503)', async () => {
  const srv = await startServer({
    namespaces: { small: { allowSubscribeForClient: true, maxSubscribers: 1 }, any: { allowSubscribeForClient: true } },
    limits: { maxChannelsPerConnection: 2, maxConnections: 3 },
  });
  try {
    const c = sdk(srv.url, { token: await token({ sub: 'l' }) });
    c.connect();
    for (const ch of ['any:1', 'any:2']) {
      const s = c.newSubscription(ch);
      const p = once(s, 'subscribed');
      s.subscribe();
      await p;
    }
    const s3 = c.newSubscription('any:3');
    const u3 = once<{ code: number }>(s3, 'unsubscribed');
    s3.subscribe();
    assert.equal((await u3).code, 106);
    const d = sdk(srv.url, { token: await token({ sub: 'm' }) });
    d.connect();
    const e = sdk(srv.url, { token: await token({ sub: 'n' }) });
    e.connect();
    const x1 = d.newSubscription('small:room');
    const px = once(x1, 'subscribed');
    x1.subscribe();
    await px;
    const x2 = e.newSubscription('small:room');
    const ux = once<{ code: number }>(x2, 'unsubscribed');
    x2.subscribe();
    assert.equal((await ux).code, 106);
    // three connections are open: the fourth upgrade is refused with 503 before the WebSocket exists
    const raw = new RawClient(srv.url);
    await assert.rejects(raw.opened, /HTTP 503/);
    c.disconnect();
    d.disconnect();
    e.disconnect();
  } finally {
    await srv.close();
  }
});

test('allowed origins are checked before the upgrade, with wildcards', async () => {
  const srv = await startServer({ allowedOrigins: ['https://*.example.com', 'http://localhost:5173'] });
  try {
    const good = new RawClient(srv.url, { origin: 'https://app.example.com' });
    await good.opened;
    good.close();
    const local = new RawClient(srv.url, { origin: 'http://localhost:5173' });
    await local.opened;
    local.close();
    const bad = new RawClient(srv.url, { origin: 'https://evil.com' });
    await assert.rejects(bad.opened, /HTTP 403/);
    const sneaky = new RawClient(srv.url, { origin: 'https://example.com.evil.com' });
    await assert.rejects(sneaky.opened, /HTTP 403/);
  } finally {
    await srv.close();
  }
});

test('RS256 and ES256 connection tokens verify against their public keys', async () => {
  const rsa = await generateKeyPair('RS256');
  const ec = await generateKeyPair('ES256');
  const srv = await startServer({ token: { rsaPublicKey: await exportSPKI(rsa.publicKey), ecdsaPublicKey: await exportSPKI(ec.publicKey) } });
  try {
    for (const [alg, key, user] of [['RS256', rsa.privateKey, 'rsa-user'], ['ES256', ec.privateKey, 'ec-user']] as const) {
      const jwt = await new SignJWT({ sub: user }).setProtectedHeader({ alg }).setExpirationTime('1h').sign(key);
      const c = sdk(srv.url, { token: jwt });
      const id = (await new Promise<{ client: string }>((r) => { c.once('connected', r); c.connect(); })).client;
      assert.equal(srv.sb.getConnection(id)?.user, user);
      c.disconnect();
    }
    // an HS256 token signed with the RSA public key as its secret (algorithm confusion) is refused
    const pem = await exportSPKI(rsa.publicKey);
    const forged = await new SignJWT({ sub: 'attacker' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(pem));
    const raw = new RawClient(srv.url);
    await raw.opened;
    raw.send({ id: 1, connect: { token: forged } });
    assert.equal((await raw.waitClose()).code, Disconnects.invalidToken.code);
  } finally {
    await srv.close();
  }
});

test('ping/pong keeps a live SDK connection open; a client that stops answering is closed with 3012', async () => {
  const srv = await startServer({ pingIntervalMs: 1000, pongTimeoutMs: 400 });
  try {
    const c = sdk(srv.url, { token: await token({ sub: 'pinger' }) });
    let reconnects = 0;
    c.on('connecting', () => reconnects++);
    c.connect();
    await once(c, 'connected');
    const raw = new RawClient(srv.url);
    await raw.opened;
    raw.send({ id: 1, connect: { token: await token({ sub: 'mute' }) } });
    const reply = await raw.next((m) => m['id'] === 1);
    assert.deepEqual({ ping: (reply['connect'] as { ping: number }).ping, pong: (reply['connect'] as { pong: boolean }).pong }, { ping: 1, pong: true });
    await raw.next((m) => Object.keys(m).length === 0, 5000); // the server's ping: {}
    const closed = await raw.waitClose(5000);
    assert.equal(closed.code, Disconnects.noPong.code);
    assert.equal(c.state, 'connected');
    assert.equal(reconnects, 1, 'the SDK that answers pings was never dropped');
    c.disconnect();
  } finally {
    await srv.close();
  }
});

test('a socket that upgrades but never sends connect is closed with 3502 stale', async () => {
  const srv = await startServer({ limits: { connectTimeoutMs: 300 } });
  try {
    const raw = new RawClient(srv.url);
    await raw.opened;
    assert.equal((await raw.waitClose(5000)).code, Disconnects.stale.code);
  } finally {
    await srv.close();
  }
});

test('graceful shutdown tells clients to reconnect (3001) and stops accepting', async () => {
  const srv = await startServer();
  const c = sdk(srv.url, { token: await token({ sub: 's' }), minReconnectDelay: 5000, maxReconnectDelay: 5000 });
  c.connect();
  await once(c, 'connected');
  const reconnecting = once<{ code: number; reason: string }>(c, 'connecting');
  await srv.sb.shutdown({ timeoutMs: 2000 });
  const ctx = await reconnecting;
  assert.equal(ctx.code, Disconnects.shutdown.code);
  const raw = new RawClient(srv.url);
  await assert.rejects(raw.opened, /HTTP 503/);
  c.disconnect();
  await srv.close();
});

test('handleUpgrade serves upgrades routed by the app itself, and compression can be turned on', async () => {
  const sb = createSwitchboard({ token: { hmacSecret: 'k' }, compression: true, namespaces: { aa: open } });
  const server = createServer();
  server.on('upgrade', (req, socket, head) => {
    if (req.url?.startsWith('/realtime')) sb.handleUpgrade(req, socket, head, { path: '/realtime', protocol: 'centrifuge' });
    else socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const c = sdk(`ws://127.0.0.1:${port}/realtime`, { token: await token({ sub: 'z' }, { secret: 'k' }) });
    c.connect();
    const sub = c.newSubscription('aa:b');
    const s = once(sub, 'subscribed');
    sub.subscribe();
    await s;
    const p = once<{ data: unknown }>(sub, 'publication');
    await sb.publish('aa:b', { big: 'y'.repeat(2000) });
    assert.deepEqual((await p).data, { big: 'y'.repeat(2000) });
    const ws = new WebSocket(`ws://127.0.0.1:${port}/realtime`);
    await new Promise((r) => ws.once('open', r));
    assert.match(ws.extensions, /permessage-deflate/);
    ws.terminate();
    c.disconnect();
  } finally {
    await sb.shutdown({ timeoutMs: 500 });
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
