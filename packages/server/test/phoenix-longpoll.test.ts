// Phoenix LongPoll (PROTOCOL-phoenix.md §11): the official client falls back to /socket/longpoll
// when its WebSocket is refused, and chats, with Presence, next to a centrifuge SDK client.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { LongPoll, Presence, Socket, type Channel } from 'phoenix';
import { phoenixLongPoll, type LongPollOptions } from '../src/index.js';
import { sdk, startServer, token, until, type TestServer } from './helpers.js';

const sockets = new Set<Socket>();
const servers = new Set<TestServer>();

afterEach(async () => {
  for (const s of sockets) s.disconnect();
  sockets.clear();
  for (const srv of servers) await srv.close();
  servers.clear();
});

/** A node serving Phoenix over LongPoll only: WebSocket upgrades to /socket/websocket are refused, as by a proxy that blocks them. */
async function server(options: LongPollOptions = {}): Promise<TestServer & { base: string }> {
  const srv = await startServer({
    namespaces: {
      chat: { allowSubscribeForClient: true, allowPublishForClient: true, presence: true },
      hist: { allowSubscribeForClient: true, historySize: 10, historyTtlMs: 60_000, forceRecovery: true },
    },
  });
  const longPoll = phoenixLongPoll(srv.sb, { pollWindowMs: 1000, sessionTimeoutMs: 3000, ...options });
  srv.http.on('upgrade', (req, socket: Duplex) => {
    if (req.url?.startsWith('/socket/websocket')) socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  srv.http.removeAllListeners('request');
  srv.http.on('request', (req, res) => {
    void longPoll(req, res).then((done) => {
      if (!done) res.writeHead(404).end();
    });
  });
  servers.add(srv);
  return { ...srv, base: `127.0.0.1:${srv.port}` };
}

function joined(ch: Channel): Promise<unknown> {
  return new Promise((resolve, reject) => {
    ch.join()
      .receive('ok', resolve)
      .receive('error', (r: unknown) => reject(new Error(`join refused: ${JSON.stringify(r)}`)))
      .receive('timeout', () => reject(new Error('join timeout')));
  });
}

function pushed(ch: Channel, event: string, payload: object): Promise<{ status: string; response: unknown }> {
  return new Promise((resolve) => {
    ch.push(event, payload)
      .receive('ok', (response: unknown) => resolve({ status: 'ok', response }))
      .receive('error', (response: unknown) => resolve({ status: 'error', response }))
      .receive('timeout', () => resolve({ status: 'timeout', response: undefined }));
  });
}

async function post(url: string, body: string): Promise<{ http: number; json: Record<string, unknown> }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
  return { http: r.status, json: (await r.json()) as Record<string, unknown> };
}

test('phoenix LongPoll: a client whose WebSocket is refused falls back to LongPoll and chats, with Presence, beside a centrifuge client', async () => {
  const srv = await server();
  const transports: string[] = [];
  srv.sb.on('connect', (c) => {
    if (c.protocol === 'phoenix') transports.push(srv.sb.liveConnection(c.id)!.transport.kind);
  });
  // The official client as an app configures it: WebSocket first, LongPoll after 1 s or on error.
  const make = async (user: string) => {
    const s = new Socket(`ws://${srv.base}/socket`, { transport: WebSocket, longPollFallbackMs: 1000, reconnectAfterMs: () => 50, rejoinAfterMs: () => 200, timeout: 5000, params: { token: await token({ sub: user }) } });
    sockets.add(s);
    let opened = false;
    s.onOpen(() => void (opened = true));
    s.connect();
    await until(() => opened, 10_000, `${user} open`);
    return s;
  };
  const alice = await make('alice');
  const bob = await make('bob');
  assert.deepEqual(transports, ['longpoll', 'longpoll']);
  assert.equal((alice as unknown as { transport: unknown }).transport, LongPoll, 'the client fell back to its LongPoll transport');

  const chA = alice.channel('chat:lp', {});
  const presence = new Presence(chA);
  let keys: string[] = [];
  presence.onSync(() => void (keys = presence.list((k: string) => k).sort()));
  const gotA: unknown[] = [];
  chA.on('said', (p: unknown) => void gotA.push(p));
  await joined(chA);
  const chB = bob.channel('chat:lp', {});
  const gotB: unknown[] = [];
  chB.on('said', (p: unknown) => void gotB.push(p));
  await joined(chB);

  const cent = sdk(`ws://${srv.base}/connection/websocket`, { token: await token({ sub: 'cent' }) });
  const centGot: unknown[] = [];
  const sub = cent.newSubscription('chat:lp');
  sub.on('publication', (ctx) => centGot.push(ctx.data));
  cent.connect();
  sub.subscribe();
  try {
    await until(() => keys.join() === 'alice,bob,cent', 10_000, 'presence of three members over two transports and two protocols');
    // Pushes travel as POSTs, broadcasts come back in polls.
    assert.deepEqual(await pushed(chA, 'said', { text: 'hi bob' }), { status: 'ok', response: {} });
    assert.deepEqual(await pushed(chB, 'said', { text: 'hi alice' }), { status: 'ok', response: {} });
    await sub.publish({ event: 'said', payload: { text: 'from centrifuge' } });
    await until(() => gotA.length === 3 && gotB.length === 3 && centGot.length === 3, 10_000, 'every message everywhere');
    assert.deepEqual(gotA, gotB);
    assert.deepEqual(gotA, [{ text: 'hi bob' }, { text: 'hi alice' }, { text: 'from centrifuge' }]);
    // Leaving over LongPoll: bob disconnects (LongPoll sends nothing for it: his session times out); the others see him go.
    bob.disconnect();
    await until(() => keys.join() === 'alice,cent', 10_000, 'bob left');
  } finally {
    cent.disconnect();
  }
});

test('phoenix LongPoll: refused and bad requests get their statuses; an abandoned session is closed and leaves presence', async () => {
  const srv = await server({ pollWindowMs: 300, sessionTimeoutMs: 800 });
  const url = `http://${srv.base}/socket/longpoll`;
  // A bad token: HTTP 401, JSON status 403 (the client stops, as Phoenix answers a refused connect).
  let r = await fetch(`${url}?token=bad&vsn=2.0.0`);
  assert.equal(r.status, 401);
  assert.equal(((await r.json()) as { status: number }).status, 403);
  r = await fetch(`${url}?token=${await token({ sub: 'x' })}&vsn=1.0.0`);
  assert.equal(r.status, 400);
  // An unknown session: 410 (the client starts over); a POST without a session too.
  assert.deepEqual((await (await fetch(`${url}?vsn=2.0.0&token=lp1.nope`)).json()) as unknown, { status: 410 });
  assert.deepEqual((await post(`${url}?vsn=2.0.0`, '[null,"1","phoenix","heartbeat",{}]')).json, { status: 410 });

  // A session by hand: open, join, poll the replies.
  const jwt = await token({ sub: 'raw' });
  const opened = (await (await fetch(`${url}?token=${jwt}&vsn=2.0.0`)).json()) as { status: number; token: string; messages: unknown[] };
  assert.equal(opened.status, 410);
  assert.match(opened.token, /^lp1\./);
  const s = `${url}?token=${jwt}&vsn=2.0.0&token=${encodeURIComponent(opened.token)}`;
  assert.deepEqual(await post(s, '["1","1","chat:raw","phx_join",{}]\n[null,"2","phoenix","heartbeat",{}]'), { http: 200, json: { status: 200 } });
  const frames: unknown[][] = [];
  await until(
    async () => {
      const p = (await (await fetch(s)).json()) as { status: number; messages?: string[] };
      for (const m of p.messages ?? []) frames.push(JSON.parse(m) as unknown[]);
      return frames.some((f) => f[3] === 'presence_state');
    },
    10_000,
    'join reply, heartbeat reply and presence_state',
  );
  // Frames are handled in order: the join's reply, its presence_state, then the heartbeat's reply.
  assert.deepEqual(
    frames.map((f) => [f[1], f[3]]),
    [
      ['1', 'phx_reply'],
      [null, 'presence_state'],
      ['2', 'phx_reply'],
    ],
  );
  assert.deepEqual(frames[0], ['1', '1', 'chat:raw', 'phx_reply', { status: 'ok', response: {} }]);
  // Over the batch limit: 413 and the session closes (as a WebSocket frame over the size limit would).
  const many = Array.from({ length: 101 }, (_, i) => `[null,"${i + 10}","phoenix","heartbeat",{}]`).join('\n');
  assert.equal((await post(s, many)).http, 413);
  assert.deepEqual((await (await fetch(s)).json()) as unknown, { status: 410 });

  // Another session that stops polling: closed after the session timeout, presence emptied.
  const o2 = (await (await fetch(`${url}?token=${await token({ sub: 'gone' })}&vsn=2.0.0`)).json()) as { token: string };
  const s2 = `${url}?vsn=2.0.0&token=${encodeURIComponent(o2.token)}`;
  await post(s2, '["1","1","chat:raw2","phx_join",{}]');
  await until(async () => (await srv.sb.presence('chat:raw2')).size === 1, 5000, 'joined');
  await until(async () => (await srv.sb.presence('chat:raw2')).size === 0, 10_000, 'abandoned session closed');
  assert.equal(srv.sb.counts().connections, 0);
});
