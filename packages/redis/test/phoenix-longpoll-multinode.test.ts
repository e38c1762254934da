// Phoenix LongPoll across two nodes on Redis, behind a balancer that sends each HTTP request to a
// random node (no sticky sessions) and refuses WebSocket upgrades: the official client falls back to
// LongPoll by itself, and its polls and pushes reach the node holding its session whichever node
// they land on (the session router).
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import WebSocket from 'ws';
import { Presence, Socket, type Channel } from 'phoenix';
import { createSwitchboard, phoenixLongPoll, type Switchboard } from '@switchboard/server';
import { createRedisEngine } from '../src/index.js';
import { token, until } from '../../server/test/helpers.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

interface Node {
  sb: Switchboard;
  port: number;
  close(): Promise<void>;
}

async function node(prefix: string, name: string): Promise<Node> {
  const sb = createSwitchboard({
    ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix, presenceTtlMs: 5000 }),
    name,
    token: { hmacSecret: 'test-secret-key-for-hs256-signing' },
    namespaces: { chat: { allowSubscribeForClient: true, allowPublishForClient: true, presence: true } },
  });
  const longPoll = phoenixLongPoll(sb, { pollWindowMs: 1000, sessionTimeoutMs: 3000 });
  const http = createServer((req, res) => {
    void longPoll(req, res).then((done) => {
      if (!done) res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  await sb.start();
  return {
    sb,
    port: (http.address() as AddressInfo).port,
    async close() {
      await sb.shutdown({ timeoutMs: 500 });
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

/**
 * Once nodes A and B know each other, opens a raw LongPoll session on node A: `at(n)` is the
 * LongPoll URL on node n, `q` the query part that names the session.
 */
async function sessionOnA(a: Node, b: Node): Promise<{ at: (n: Node) => string; q: string }> {
  await until(async () => (await a.sb.info()).nodes.length === 2 && (await b.sb.info()).nodes.length === 2, 15_000, 'both nodes know each other');
  const jwt = await token({ sub: 'raw' });
  const at = (n: Node) => `http://127.0.0.1:${n.port}/socket/longpoll?token=${jwt}&vsn=2.0.0`;
  const opened = (await (await fetch(at(a))).json()) as { token: string };
  return { at, q: `&token=${encodeURIComponent(opened.token)}` };
}

/** An HTTP proxy that sends each request to a random backend and answers every WebSocket upgrade 403. */
async function balancer(ports: number[]): Promise<{ port: number; served: number[]; close(): Promise<void> }> {
  const served = ports.map(() => 0);
  const http: Server = createServer((req, res) => {
    const i = Math.floor(Math.random() * ports.length);
    served[i]!++;
    const up = request({ host: '127.0.0.1', port: ports[i], method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  http.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return {
    port: (http.address() as AddressInfo).port,
    served,
    async close() {
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

function joined(ch: Channel): Promise<unknown> {
  return new Promise((resolve, reject) => {
    ch.join()
      .receive('ok', resolve)
      .receive('error', (r: unknown) => reject(new Error(`join refused: ${JSON.stringify(r)}`)))
      .receive('timeout', () => reject(new Error('join timeout')));
  });
}

function pushed(ch: Channel, event: string, payload: object): Promise<string> {
  return new Promise((resolve) => {
    ch.push(event, payload)
      .receive('ok', () => resolve('ok'))
      .receive('error', (r: unknown) => resolve(`error ${JSON.stringify(r)}`))
      .receive('timeout', () => resolve('timeout'));
  });
}

test('phoenix LongPoll on two nodes on Redis behind a random balancer: fallback, presence and chat across nodes', { timeout: 120_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('phx-lp');
  const a = await node(prefix, 'A');
  const b = await node(prefix, 'B');
  const lb = await balancer([a.port, b.port]);
  const sockets: Socket[] = [];
  t.after(async () => {
    for (const s of sockets) s.disconnect();
    await lb.close();
    await a.close();
    await b.close();
    await dropPrefix(prefix);
  });
  // A request routed to the other node needs that node in the registry (announced every 3 s).
  await until(async () => (await a.sb.info()).nodes.length === 2 && (await b.sb.info()).nodes.length === 2, 15_000, 'both nodes know each other');

  const client = async (user: string) => {
    const s = new Socket(`ws://127.0.0.1:${lb.port}/socket`, { transport: WebSocket, longPollFallbackMs: 1000, reconnectAfterMs: () => 100, rejoinAfterMs: () => 300, timeout: 8000, params: { token: await token({ sub: user }) } });
    sockets.push(s);
    s.connect();
    const ch = s.channel('chat:lb', {});
    const said: string[] = [];
    ch.on('said', (p: { text: string }) => void said.push(p.text));
    const presence = new Presence(ch);
    let keys = '';
    presence.onSync(() => void (keys = presence.list((k: string) => k).sort().join()));
    await joined(ch);
    return { s, ch, said, keys: () => keys };
  };
  const alice = await client('alice');
  const bob = await client('bob');
  await until(() => alice.keys() === 'alice,bob' && bob.keys() === 'alice,bob', 15_000, 'each sees both in Presence');

  // Chat: every push is a POST and every message arrives in a poll, each through a random node.
  for (let i = 0; i < 5; i++) {
    assert.equal(await pushed(alice.ch, 'said', { text: `a${i}` }), 'ok');
    assert.equal(await pushed(bob.ch, 'said', { text: `b${i}` }), 'ok');
  }
  const all = ['a0', 'b0', 'a1', 'b1', 'a2', 'b2', 'a3', 'b3', 'a4', 'b4'];
  await until(() => alice.said.length === 10 && bob.said.length === 10, 15_000, 'every message to both');
  assert.deepEqual(alice.said, all);
  assert.deepEqual(bob.said, all);

  // Both nodes served requests, and requests reached sessions held by the other node.
  assert.ok(lb.served[0]! > 0 && lb.served[1]! > 0, `balancer spread ${JSON.stringify(lb.served)}`);
  assert.ok(a.sb.router.routedIn + b.sb.router.routedIn > 0, 'requests were routed between the nodes');

  // Bob goes away: his session times out on its node, and alice sees him leave.
  bob.s.disconnect();
  await until(() => alice.keys() === 'alice', 15_000, 'bob left');
});

test('phoenix LongPoll across nodes: what a poll abandoned on the other node was answered with is not lost', { timeout: 120_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('phx-lp2');
  const a = await node(prefix, 'A');
  const b = await node(prefix, 'B');
  t.after(async () => {
    await a.close();
    await b.close();
    await dropPrefix(prefix);
  });
  const { at, q } = await sessionOnA(a, b);
  // Join through node B (routed to A, which holds the session), then drain the replies through B.
  const posted = await fetch(at(b) + q, { method: 'POST', body: '["1","1","chat:abandon","phx_join",{}]' });
  assert.deepEqual(await posted.json(), { status: 200 });
  await until(
    async () => ((await (await fetch(at(b) + q)).json()) as { messages?: string[] }).messages?.some((m) => m.includes('presence_state')) === true,
    10_000,
    'join reply and presence_state through node B',
  );
  // A poll parked on node B is abandoned by its client; a publication meanwhile goes to it, is
  // refused (nobody waits there any more) and must come with the next poll.
  for (let round = 0; round < 3; round++) {
    const ac = new AbortController();
    const parked = fetch(at(b) + q, { signal: ac.signal }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    ac.abort();
    await parked;
    await a.sb.publish('chat:abandon', { event: 'n', payload: { round } });
    const got: string[] = [];
    await until(
      async () => {
        const p = (await (await fetch(at(round % 2 === 0 ? a : b) + q)).json()) as { messages?: string[] };
        got.push(...(p.messages ?? []));
        return got.length > 0;
      },
      10_000,
      `the publication of round ${round}`,
    );
    assert.deepEqual(
      got.map((m) => JSON.parse(m) as unknown[]),
      [[null, null, 'chat:abandon', 'n', { round }]],
    );
  }
});

test('phoenix LongPoll across nodes: a session whose node is gone: routing timeouts (500) while the registry still lists it, then 410', { timeout: 120_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('phx-lp3');
  const a = await node(prefix, 'A');
  const b = await node(prefix, 'B');
  let aClosed = false;
  t.after(async () => {
    if (!aClosed) await a.close();
    await b.close();
    await dropPrefix(prefix);
  });
  const { at, q } = await sessionOnA(a, b);
  // While node A is up, node B routes the session's requests to it.
  assert.deepEqual(await (await fetch(at(b) + q, { method: 'POST', body: '[null,"1","phoenix","heartbeat",{}]' })).json(), { status: 200 });
  // Node A goes away. Node B still counts it live until its registry entry ages out (announced
  // within 15 s), so a request routed there first times out: {"status":500}; after that, 410. Both
  // make the client start over and rejoin.
  await a.close();
  aClosed = true;
  const seen: number[] = [];
  await until(
    async () => {
      const s = ((await (await fetch(at(b) + q)).json()) as { status: number }).status;
      seen.push(s);
      return s === 410;
    },
    40_000,
    'a 410 for the session of the node that is gone',
  );
  assert.equal(seen[0], 500, `statuses ${JSON.stringify(seen)}`);
  for (const s of seen.slice(0, -1)) assert.equal(s, 500, `statuses ${JSON.stringify(seen)}`);
});
