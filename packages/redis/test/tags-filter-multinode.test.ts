import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createSwitchboard, type Switchboard } from '@switchboard/server';
import { createRedisEngine } from '../src/index.js';
import { once, RawClient, SECRET, sdk, token, until } from '../../server/test/helpers.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

/** Two nodes on one Redis with a namespace that allows tags filters. */
async function node(prefix: string, name: string): Promise<{ sb: Switchboard; url: string; close(): Promise<void> }> {
  const sb = createSwitchboard({
    ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix }),
    name,
    token: { hmacSecret: SECRET },
    namespaces: { ticks: { allowSubscribeForClient: true, allowTagsFilter: true } },
  });
  const http = createServer();
  sb.attach(http, '/connection/websocket');
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  await sb.start();
  return {
    sb,
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/connection/websocket`,
    async close() {
      await sb.shutdown({ timeoutMs: 500 });
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

test('tags filters across two nodes on Redis: publications from the other node are filtered by their tags; a bad filter is refused', async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('tags');
  const a = await node(prefix, 'A');
  const b = await node(prefix, 'B');
  const c = sdk(b.url, { token: await token({ sub: 'watcher' }) });
  const all = sdk(b.url, { token: await token({ sub: 'all' }) });
  t.after(async () => {
    c.disconnect();
    all.disconnect();
    await a.close();
    await b.close();
    await dropPrefix(prefix);
  });
  for (const x of [c, all]) {
    const p = once(x, 'connected');
    x.connect();
    await p;
  }
  const filtered = c.newSubscription('ticks:x', { tagsFilter: { key: 'ticker', cmp: 'eq', val: 'BTC' } });
  const everything = all.newSubscription('ticks:x');
  const got: unknown[] = [];
  const allGot: unknown[] = [];
  filtered.on('publication', (p) => got.push(p.data));
  everything.on('publication', (p) => allGot.push(p.data));
  for (const s of [filtered, everything]) {
    const ok = once(s, 'subscribed');
    s.subscribe();
    await ok;
  }
  // Node A publishes (app code); node B's subscribers get them through Redis.
  await until(async () => {
    await a.sb.publish('ticks:x', { probe: true }, { tags: { ticker: 'probe' } });
    return allGot.length > 0;
  }, 10_000, 'the broker subscription on node B');
  const numbered = (l: unknown[]) => l.filter((g) => (g as { n?: number }).n !== undefined);
  const ticks = ['BTC', 'ETH', 'BTC', 'SOL'];
  for (let n = 0; n < ticks.length; n++) await a.sb.publish('ticks:x', { n }, { tags: { ticker: ticks[n]! } });
  await until(() => numbered(allGot).length === ticks.length, 10_000, 'every publication on node B');
  // The unfiltered subscriber on the same node got the last one: the filtered one had its chance.
  await until(() => numbered(got).length >= 2, 10_000);
  assert.deepEqual(numbered(got), [{ n: 0 }, { n: 2 }]);
  assert.ok(!got.some((g) => (g as { probe?: boolean }).probe), 'probes tagged otherwise were filtered out');

  const raw = new RawClient(b.url);
  t.after(() => raw.close());
  await raw.opened;
  raw.send({ id: 1, connect: { token: await token({ sub: 'raw' }) } });
  await raw.next((m) => m['id'] === 1);
  raw.send({ id: 2, subscribe: { channel: 'ticks:y', tf: { op: 'not', nodes: [] } } });
  const r = await raw.next<{ error?: { code: number } }>((m) => m['id'] === 2);
  assert.equal(r.error?.code, 107);
});
