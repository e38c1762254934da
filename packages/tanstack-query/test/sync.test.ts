// syncQueries' options in Node, with TanStack Query's own QueryClient (@tanstack/query-core, what the
// React and Vue adapters wrap) and a real server: a custom `map` replaces the default mapping and
// its `set`, `remove` and `invalidate` actions reach the cache; `covers` limits what a resync
// invalidates to the keys it names. (The default mapping and the default `covers` are tested in
// Chromium by browser.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QueryClient, QueryObserver, type QueryKey } from '@tanstack/query-core';
import { createRealtime, type MessageContext, type ResyncEvent } from '@switchboard/client';
import { Disconnects } from '@switchboard/server';
import { syncQueries, type QueryAction } from '../src/index.js';
import { startServer, token, until } from '../../server/test/helpers.js';

/** Queries with observers (so they are active and refetch when invalidated); counts fetches per key. */
function observe(qc: QueryClient, keys: QueryKey[]) {
  const fetches = new Map<string, number>();
  const offs = keys.map((queryKey) => {
    const id = JSON.stringify(queryKey);
    fetches.set(id, 0);
    const observer = new QueryObserver(qc, {
      queryKey,
      queryFn: () => {
        const n = fetches.get(id)! + 1;
        fetches.set(id, n);
        return { id, n };
      },
      staleTime: Infinity, // only an invalidation makes them fetch again
    });
    return observer.subscribe(() => {});
  });
  return {
    count: (key: QueryKey) => fetches.get(JSON.stringify(key)),
    close: () => offs.forEach((off) => off()),
  };
}

type Msg = { op: 'set' | 'remove' | 'both' | 'ignore'; key?: unknown[]; data?: unknown; queryKey?: unknown[] };

test('syncQueries with a custom map: its set, remove and invalidate actions reach the QueryClient; what it maps to nothing changes nothing', { timeout: 60_000 }, async () => {
  const server = await startServer({ namespaces: { feed: { allowSubscribeForClient: true } } });
  const qc = new QueryClient();
  const rt = createRealtime({ url: server.url, getToken: () => token({ sub: 'map-user' }), minReconnectDelay: 50, maxReconnectDelay: 300 });
  const queries = observe(qc, [['a', 1], ['b']]);
  const seen: { msg: Msg; ctx: MessageContext }[] = [];
  const off = syncQueries(rt, qc, 'feed:cache', {
    map: (msg: unknown, ctx): QueryAction | QueryAction[] | null => {
      const m = msg as Msg;
      seen.push({ msg: m, ctx });
      if (m.op === 'set') return { type: 'set', queryKey: m.key!, data: m.data };
      if (m.op === 'remove') return { type: 'remove', queryKey: m.key! };
      if (m.op === 'both') return [{ type: 'set', queryKey: m.key!, data: m.data }, { type: 'invalidate', queryKey: ['a'] }];
      return null; // 'ignore', even with a queryKey the default mapping would invalidate
    },
  });
  try {
    await until(() => queries.count(['a', 1]) === 1 && queries.count(['b']) === 1, 10_000, 'the first fetch of each query');
    await until(async () => (await server.sb.channels()).has('feed:cache'), 10_000, 'the channel subscribed');

    qc.setQueryData(['x'], 'before');
    await server.sb.publish('feed:cache', { op: 'set', key: ['x'], data: 'from the message' });
    await until(() => qc.getQueryData(['x']) === 'from the message', 10_000, 'set: the cache written');

    await server.sb.publish('feed:cache', { op: 'remove', key: ['x'] });
    await until(() => qc.getQueryCache().find({ queryKey: ['x'] }) === undefined, 10_000, 'remove: the query gone');

    // The default mapping would invalidate ['a']; this map returns nothing for it. The next
    // publication (in order on the channel) shows it was handled and did nothing.
    await server.sb.publish('feed:cache', { op: 'ignore', queryKey: ['a'] });
    await server.sb.publish('feed:cache', { op: 'set', key: ['marker'], data: 1 });
    await until(() => qc.getQueryData(['marker']) === 1, 10_000, 'the marker written');
    assert.equal(qc.getQueryState(['a', 1])?.isInvalidated, false, 'an ignored message invalidates nothing');
    assert.equal(queries.count(['a', 1]), 1);

    // An array of actions: both applied.
    await server.sb.publish('feed:cache', { op: 'both', key: ['y'], data: [1, 2] });
    await until(() => queries.count(['a', 1]) === 2, 10_000, "invalidate: ['a', 1] refetched");
    assert.deepEqual(qc.getQueryData(['y']), [1, 2]);
    assert.equal(queries.count(['b']), 1, "['b'] was not invalidated");

    // map got every message with its context, in order.
    assert.deepEqual(seen.map((s) => s.msg.op), ['set', 'remove', 'ignore', 'set', 'both']);
    assert.ok(seen.every((s) => s.ctx.channel === 'feed:cache'));
  } finally {
    off();
    queries.close();
    rt.close();
    qc.clear();
    await server.close();
  }
});

test('syncQueries with covers: a resync invalidates the covered keys and nothing else', { timeout: 60_000 }, async () => {
  // `feed` keeps no history: a dropped connection cannot be recovered, so the resubscription is a resync.
  const server = await startServer({ namespaces: { feed: { allowSubscribeForClient: true } } });
  const qc = new QueryClient();
  const rt = createRealtime({ url: server.url, getToken: () => token({ sub: 'covers-user' }), minReconnectDelay: 50, maxReconnectDelay: 300 });
  const queries = observe(qc, [['a', 1], ['a', 2], ['b'], ['ab']]);
  const resyncs: ResyncEvent[] = [];
  const off = syncQueries(rt, qc, 'feed:covers', { covers: [['a']], onResync: (e) => resyncs.push(e) });
  try {
    await until(() => [['a', 1], ['a', 2], ['b'], ['ab']].every((k) => queries.count(k) === 1), 10_000, 'the first fetch of each query');
    await until(async () => (await server.sb.channels()).has('feed:covers'), 10_000, 'the channel subscribed');

    await server.sb.disconnectUser({ user: 'covers-user' }, Disconnects.forceReconnect);
    await until(() => resyncs.length === 1, 15_000, 'a resync after the reconnect');
    assert.equal(resyncs[0]!.channel, 'feed:covers');
    // The covered keys were invalidated before onResync was called, and refetch.
    await until(() => queries.count(['a', 1]) === 2 && queries.count(['a', 2]) === 2, 10_000, "the ['a'] queries refetched");
    for (const k of [['b'], ['ab']]) {
      assert.equal(qc.getQueryState(k)?.isInvalidated, false, `${JSON.stringify(k)} is not covered`);
      assert.equal(queries.count(k), 1);
    }
  } finally {
    off();
    queries.close();
    rt.close();
    qc.clear();
    await server.close();
  }
});
