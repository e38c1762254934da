import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApiHandler, createSwitchboard, type Publication, type StreamPosition, type Switchboard } from '@switchboard/server';
import { Recorder, waitFor } from '@switchboard/server/testing';
import { createRedisEngine, RedisBroker, RedisShards } from '../src/index.js';
import { once, SECRET, sdk, token, until } from '../../server/test/helpers.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

const pub = (n: unknown): Publication => ({ data: JSON.stringify({ n }), time: Date.now() });

test('idempotent publications on Redis: a key published by one node is not published again by another, with or without history', async (t) => {
  if (!(await redisAvailable())) return t.skip('no Redis here');
  const opts = { addresses: [REDIS_ADDRESS], prefix: testPrefix('idem') };
  const a = new RedisBroker({ shards: new RedisShards(opts) });
  const b = new RedisBroker({ shards: new RedisShards(opts) });
  t.after(() => Promise.all([a.close(), b.close()]));
  assert.equal(a.idempotentPublish, true);
  const rec = new Recorder();
  await a.start(new Recorder());
  await b.start(rec);
  await b.subscribe('h');
  await b.subscribe('plain');
  const hist = { size: 100, ttlMs: 60_000 };
  const dups: string[] = [];
  const idem = (key: string, tag: string) => ({ key, ttlMs: 60_000, duplicate: () => dups.push(tag) });

  const first = await a.publish('h', pub(1), { history: hist, idempotent: idem('k1', 'a1') });
  const again = await b.publish('h', pub(1), { history: hist, idempotent: idem('k1', 'b1') });
  assert.deepEqual(again, first, 'the retry on another node answers the first position');
  // the same key at the same time from both nodes, with a plain publication among them
  const [x, y] = await Promise.all([
    a.publish('h', pub(2), { history: hist, idempotent: idem('k2', 'a2') }),
    b.publish('h', pub(2), { history: hist, idempotent: idem('k2', 'b2') }),
    a.publish('h', pub(3), { history: hist }),
  ]);
  assert.deepEqual(x, y);
  // without history: published once, no position
  assert.equal(await a.publish('plain', pub(1), { idempotent: idem('p', 'ap') }), undefined);
  assert.equal(await b.publish('plain', pub(1), { idempotent: idem('p', 'bp') }), undefined);
  const last: StreamPosition | undefined = await a.publish('h', pub('end'), { history: hist });
  await b.publish('plain', pub('end'));
  await waitFor(() => rec.data('h').length >= 4 && rec.data('plain').length >= 2, 10_000, 'the last publications');
  assert.deepEqual(rec.data('h'), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 'end' }]);
  assert.deepEqual(
    rec.pubs('h').map((p) => p.offset),
    [1, 2, 3, 4],
  );
  assert.deepEqual(rec.data('plain'), [{ n: 1 }, { n: 'end' }]);
  assert.equal(last?.offset, 4);
  // one duplicate per repeated key: b1, bp, and one of the two concurrent k2 publications
  assert.equal(dups.length, 3, dups.join(','));
  assert.ok(dups.includes('b1') && dups.includes('bp') && dups.includes('a2') !== dups.includes('b2'), dups.join(','));
});

/** A Switchboard node on Redis with a WebSocket endpoint and the HTTP API on one server. */
async function node(prefix: string, name: string): Promise<{ sb: Switchboard; url: string; base: string; close(): Promise<void> }> {
  const sb = createSwitchboard({
    ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix }),
    name,
    token: { hmacSecret: SECRET },
    namespaces: { room: { allowSubscribeForClient: true, historySize: 100, historyTtlMs: 60_000 }, live: { allowSubscribeForClient: true } },
  });
  const api = createApiHandler(sb, { key: 'k', prefix: '/api' });
  const http = createServer((req, res) => {
    void api(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end();
    });
  });
  sb.attach(http, '/connection/websocket');
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  await sb.start();
  const port = (http.address() as AddressInfo).port;
  return {
    sb,
    url: `ws://127.0.0.1:${port}/connection/websocket`,
    base: `http://127.0.0.1:${port}`,
    async close() {
      await sb.shutdown({ timeoutMs: 500 });
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

test('two Switchboard nodes on Redis: an idempotency key used on one node (app code or HTTP API) publishes nothing again on the other', async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('idem-nodes');
  const a = await node(prefix, 'A');
  const b = await node(prefix, 'B');
  const c = sdk(b.url, { token: await token({ sub: 'watcher' }) });
  t.after(async () => {
    c.disconnect();
    await a.close();
    await b.close();
    await dropPrefix(prefix);
  });
  const post = async (n: { base: string }, method: string, body: unknown) =>
    (await (await fetch(`${n.base}/api/${method}`, { method: 'POST', headers: { 'x-api-key': 'k' }, body: JSON.stringify(body) })).json()) as { result?: Record<string, unknown>; error?: unknown };
  const connected = once(c, 'connected');
  c.connect();
  await connected;
  const got = new Map<string, unknown[]>();
  for (const ch of ['room:1', 'live:1']) {
    const sub = c.newSubscription(ch);
    got.set(ch, []);
    sub.on('publication', (p) => got.get(ch)!.push(p.data));
    const ok = once(sub, 'subscribed');
    sub.subscribe();
    await ok;
  }
  // Node B's subscriber gets node A's publications through Redis before the keyed ones start.
  await until(async () => {
    await a.sb.publish('live:1', { probe: true });
    return got.get('live:1')!.length > 0;
  }, 10_000, 'the broker subscription on node B');

  // App code on A, then the HTTP API on B with the same key: B answers A's position and publishes nothing.
  const first = await a.sb.publish('room:1', { n: 1 }, { idempotencyKey: 'order-1' });
  const again = await post(b, 'publish', { channel: 'room:1', data: { n: 1, retry: true }, idempotency_key: 'order-1' });
  assert.deepEqual({ offset: again.result?.['offset'], epoch: again.result?.['epoch'] }, { offset: first?.offset, epoch: first?.epoch });
  // The HTTP API on A, then app code on B.
  const viaApi = await post(a, 'publish', { channel: 'room:1', data: { n: 2 }, idempotency_key: 'order-2' });
  assert.deepEqual(await b.sb.publish('room:1', { n: 2, retry: true }, { idempotencyKey: 'order-2' }), { offset: viaApi.result?.['offset'], epoch: viaApi.result?.['epoch'] });
  // The same key on both nodes at once, without history: one publication.
  await Promise.all([post(a, 'publish', { channel: 'live:1', data: { n: 1 }, idempotency_key: 'x' }), post(b, 'publish', { channel: 'live:1', data: { n: 1 }, idempotency_key: 'x' })]);
  await a.sb.publish('room:1', { n: 'end' });
  await a.sb.publish('live:1', { n: 'end' });
  await until(() => [...got.values()].every((l) => l.some((d) => (d as { n?: unknown }).n === 'end')), 10_000, 'the last publication on both channels');
  assert.deepEqual(got.get('room:1'), [{ n: 1 }, { n: 2 }, { n: 'end' }]);
  assert.deepEqual(
    got.get('live:1')!.filter((d) => !(d as { probe?: boolean }).probe),
    [{ n: 1 }, { n: 'end' }],
  );
  const hist = (await b.sb.history('room:1', { limit: -1 })).publications.map((p) => JSON.parse(p.data) as unknown);
  assert.deepEqual(hist, [{ n: 1 }, { n: 2 }, { n: 'end' }]);
});
