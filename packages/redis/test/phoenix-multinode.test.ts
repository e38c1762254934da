// Phoenix WebSocket clients on two nodes on Redis: Presence lists the members of both nodes, and a
// presence update made on one node reaches the other as Phoenix's leave+join with the refs every
// node derives from the same presence entry (ClientInfo `rev`).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import WebSocket from 'ws';
import { Presence, Socket, type Channel } from 'phoenix';
import { createSwitchboard, type Switchboard } from '@switchboard/server';
import { createRedisEngine } from '../src/index.js';
import { token, until } from '../../server/test/helpers.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

interface Node {
  sb: Switchboard;
  url: string;
  close(): Promise<void>;
}

async function node(prefix: string, name: string): Promise<Node> {
  const sb = createSwitchboard({ ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix, presenceTtlMs: 5000 }), name, token: { hmacSecret: 'test-secret-key-for-hs256-signing' } });
  sb.route('/desk/:id', {
    join(ctx) {
      ctx.track({ node: name }).accept();
    },
    options: { presence: true },
  }).on('status', async (ctx) => {
    await ctx.updatePresence({ node: name, status: (ctx.payload as { status: string }).status });
  });
  const http = createServer();
  sb.attach(http, { path: '/socket/websocket', protocol: 'phoenix' });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  await sb.start();
  return {
    sb,
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/socket`,
    async close() {
      await sb.shutdown({ timeoutMs: 500 });
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

type Meta = Record<string, unknown>;
type Diff = { joins: Record<string, { metas: Meta[] }>; leaves: Record<string, { metas: Meta[] }> };

/** The official client on one node, joined to a presence topic, with what its `Presence` lists. */
async function member(url: string, user: string, sockets: Socket[]) {
  const s = new Socket(url, { transport: WebSocket, reconnectAfterMs: () => 100, rejoinAfterMs: () => 200, timeout: 5000, params: { token: await token({ sub: user }) } });
  sockets.push(s);
  let opened = false;
  s.onOpen(() => void (opened = true));
  s.connect();
  await until(() => opened, 10_000, `${user} open`);
  const ch: Channel = s.channel('/desk/1', {});
  const presence = new Presence(ch);
  const view = { socket: s, ch, list: new Map<string, Meta[]>(), diffs: [] as Diff[] };
  ch.on('presence_diff', (d: Diff) => void view.diffs.push(d));
  presence.onSync(() => {
    view.list = new Map();
    presence.list((k: string, p: { metas: Meta[] }) => void view.list.set(k, p.metas));
  });
  await new Promise<void>((resolve, reject) =>
    ch
      .join()
      .receive('ok', () => resolve())
      .receive('error', (r: unknown) => reject(new Error(`join refused: ${JSON.stringify(r)}`)))
      .receive('timeout', () => reject(new Error('join timeout'))),
  );
  return view;
}

test('phoenix on two nodes on Redis: Presence lists both nodes\' members; an update on node B is a leave+join with phx_ref_prev on node A; a leave reaches the other node', async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('phx-multi');
  const a = await node(prefix, 'A');
  const b = await node(prefix, 'B');
  const sockets: Socket[] = [];
  t.after(async () => {
    for (const s of sockets) s.disconnect();
    await a.close();
    await b.close();
    await dropPrefix(prefix);
  });
  const alice = await member(a.url, 'alice', sockets);
  const bob = await member(b.url, 'bob', sockets);

  // Each sees the other, with the node that tracked it.
  await until(() => alice.list.has('bob') && bob.list.has('alice'), 10_000, 'both members seen from both nodes');
  assert.deepEqual((alice.list.get('bob')![0]!['chan_info'] as { node: string }).node, 'B');
  assert.deepEqual((bob.list.get('alice')![0]!['chan_info'] as { node: string }).node, 'A');
  const firstRef = alice.list.get('bob')![0]!['phx_ref'];
  assert.equal(typeof firstRef, 'string');

  // Bob's status changes on node B; node A's member gets one diff replacing bob's meta.
  const ok = await new Promise<string>((resolve) =>
    bob.ch
      .push('status', { status: 'away' })
      .receive('ok', () => resolve('ok'))
      .receive('error', () => resolve('error'))
      .receive('timeout', () => resolve('timeout')),
  );
  assert.equal(ok, 'ok');
  await until(() => (alice.list.get('bob')?.[0]?.['chan_info'] as { status?: string } | undefined)?.status === 'away', 10_000, 'alice sees bob away');
  const update = alice.diffs.find((d) => d.joins['bob'] !== undefined && d.leaves['bob'] !== undefined);
  assert.ok(update, `an update diff on node A: ${JSON.stringify(alice.diffs)}`);
  const joinedMeta = update.joins['bob']!.metas[0]!;
  assert.equal(joinedMeta['phx_ref_prev'], firstRef);
  assert.notEqual(joinedMeta['phx_ref'], firstRef);
  assert.equal(update.leaves['bob']!.metas[0]!['phx_ref'], firstRef);
  assert.equal(alice.list.get('bob')!.length, 1, 'one meta for bob after the update');
  // Node B derived the same new ref for its own member.
  await until(() => bob.list.get('bob')?.[0]?.['phx_ref'] === joinedMeta['phx_ref'], 10_000, 'bob sees the same new ref');

  // Bob leaves on node B: node A's member drops him.
  bob.socket.disconnect();
  await until(() => !alice.list.has('bob'), 10_000, 'bob dropped on node A');
  assert.deepEqual([...alice.list.keys()], ['alice']);
});
