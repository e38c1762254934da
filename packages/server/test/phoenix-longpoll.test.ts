// Phoenix LongPoll (PROTOCOL-phoenix.md §11): the official client falls back to /socket/longpoll
// when its WebSocket is refused, and chats, with Presence, next to a centrifuge SDK client.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { LongPoll, Presence, Socket, type Channel } from 'phoenix';
import { phoenixLongPoll, type LongPollOptions, type Switchboard, type SwitchboardOptions } from '../src/index.js';
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
async function server(options: LongPollOptions = {}, sbOptions: SwitchboardOptions = {}, setup?: (sb: Switchboard) => void): Promise<TestServer & { base: string }> {
  const srv = await startServer(
    {
      namespaces: {
        chat: { allowSubscribeForClient: true, allowPublishForClient: true, presence: true },
        hist: { allowSubscribeForClient: true, historySize: 10, historyTtlMs: 60_000, forceRecovery: true },
      },
      ...sbOptions,
    },
    setup,
  );
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
  // A bad token: HTTP 401, JSON status 403 (what the official client does with it: the test below).
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

test('phoenix LongPoll: the official client with authToken (X-Phoenix-AuthToken header) joins; CORS preflight; a refused token closes the transport with 1008 and the 1.8.16 socket retries', async () => {
  const srv = await server();
  const users: string[] = [];
  srv.sb.on('connect', (c) => void users.push(c.user));
  // authToken over LongPoll: no token param at all, the header carries it.
  const s = new Socket(`ws://${srv.base}/socket`, { transport: LongPoll, authToken: await token({ sub: 'hdr' }), reconnectAfterMs: () => 50, timeout: 5000 });
  sockets.add(s);
  s.connect();
  const ch = s.channel('chat:hdr', {});
  await joined(ch);
  assert.deepEqual(users, ['hdr']);
  assert.equal((s as unknown as { endPointURL(): string }).endPointURL().includes('token='), false, 'no token in the query');
  assert.deepEqual(await pushed(ch, 'said', { text: 'via header' }), { status: 'ok', response: {} });

  // CORS preflight for a page on another origin.
  const pre = await fetch(`http://${srv.base}/socket/longpoll?vsn=2.0.0`, { method: 'OPTIONS', headers: { origin: 'http://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-phoenix-authtoken' } });
  assert.ok(pre.status >= 200 && pre.status < 300, `preflight status ${pre.status}`);
  assert.equal(pre.headers.get('access-control-allow-origin'), 'http://app.example');
  assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
  assert.match(pre.headers.get('access-control-allow-headers') ?? '', /x-phoenix-authtoken/);

  // A bad token: the client's LongPoll transport reports 403 and closes with 1008 "forbidden"; the
  // 1.8.16 socket then tries again with its reconnect backoff (as after a refused WebSocket upgrade),
  // and each try is refused the same way: it never opens.
  const bad = new Socket(`ws://${srv.base}/socket`, { transport: LongPoll, params: { token: 'bad' }, reconnectAfterMs: () => 50, timeout: 5000 });
  sockets.add(bad);
  const errors: unknown[] = [];
  const closes: number[] = [];
  let opens = 0;
  bad.onError((e: unknown) => void errors.push(e));
  bad.onClose((e: { code: number }) => void closes.push(e.code));
  bad.onOpen(() => void opens++);
  bad.connect();
  await until(() => errors.filter((e) => e === 403).length >= 2, 10_000, 'two refused tries');
  assert.equal(opens, 0);
  assert.ok(closes.includes(1008), `closes ${JSON.stringify(closes)}`);
  assert.deepEqual(users, ['hdr']);

  // A revoked token opens no new session: HTTP 403 with JSON status 403.
  const revoked = await token({ sub: 'rev', jti: 'lp-jti' });
  await srv.sb.revokeToken('lp-jti', Date.now() + 60_000);
  const r = await fetch(`http://${srv.base}/socket/longpoll?token=${revoked}&vsn=2.0.0`);
  assert.equal(r.status, 403);
  assert.deepEqual(await r.json(), { status: 403, error: 'token revoked' });
  assert.deepEqual(users, ['hdr']);
});

test('phoenix LongPoll: inbound backpressure holds a POST body (not handed over, not answered) while the connection is paused', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const seen: string[] = [];
  const srv = await server({}, { limits: { maxPendingCommands: 2 } }, (sb) => {
    sb.route('/slow/:id', {
      join(ctx) {
        ctx.accept();
      },
    }).on('wait', async (ctx) => {
      seen.push(`wait ${(ctx.payload as { i: number }).i}`);
      await gate;
    });
  });
  // Count POST bodies the server has read in full.
  let bodiesRead = 0;
  srv.http.prependListener('request', (req) => {
    if (req.method === 'POST') req.once('end', () => void bodiesRead++);
  });
  const url = `http://${srv.base}/socket/longpoll`;
  const opened = (await (await fetch(`${url}?token=${await token({ sub: 'bp' })}&vsn=2.0.0`)).json()) as { token: string };
  const s = `${url}?vsn=2.0.0&token=${encodeURIComponent(opened.token)}`;
  assert.deepEqual(await post(s, '["1","1","/slow/1","phx_join",{}]'), { http: 200, json: { status: 200 } });
  let joinReply: unknown;
  await until(
    async () => {
      const p = (await (await fetch(s)).json()) as { messages?: string[] };
      for (const m of p.messages ?? []) if ((JSON.parse(m) as unknown[])[1] === '1') joinReply = (JSON.parse(m) as unknown[])[4];
      return joinReply !== undefined;
    },
    5000,
    'the join reply',
  );
  assert.deepEqual(joinReply, { status: 'ok', response: {} });
  const conn = [...srv.sb.liveConnections()][0]!;
  // Four pushes the handler holds: more pending commands than the limit, so the connection pauses.
  const body = [0, 1, 2, 3].map((i) => `["1","w${i}","/slow/1","wait",{"i":${i}}]`).join('\n');
  assert.deepEqual(await post(s, body), { http: 200, json: { status: 200 } });
  await until(() => conn.inboundPaused, 5000, 'the connection paused');
  // The next POST is read but held: no answer even after a later request's round trip.
  let answered: { http: number; json: Record<string, unknown> } | undefined;
  const held = post(s, '[null,"hb","phoenix","heartbeat",{}]').then((r) => (answered = r));
  await until(() => bodiesRead === 3, 5000, 'the held body read');
  const pre = await fetch(url, { method: 'OPTIONS' });
  assert.equal(pre.status, 204);
  assert.equal(answered, undefined, 'a POST is not answered while the connection is paused');
  assert.deepEqual(seen, ['wait 0']);
  // Released: the commands drain, the connection resumes and the held POST is answered.
  release();
  await held;
  assert.deepEqual(answered, { http: 200, json: { status: 200 } });
  await until(() => seen.length === 4, 5000, 'every push handled');
  assert.deepEqual(seen, ['wait 0', 'wait 1', 'wait 2', 'wait 3']);
  // Everything was answered in order: four push replies, then the heartbeat's.
  const refs: unknown[] = [];
  await until(
    async () => {
      const p = (await (await fetch(s)).json()) as { messages?: string[] };
      for (const m of p.messages ?? []) {
        const f = JSON.parse(m) as unknown[];
        if (f[3] === 'phx_reply') refs.push(f[1]);
      }
      return refs.includes('hb');
    },
    10_000,
    'the replies',
  );
  assert.deepEqual(refs.filter((r) => r !== '1'), ['w0', 'w1', 'w2', 'w3', 'hb']);
});
