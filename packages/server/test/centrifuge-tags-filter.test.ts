import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import type { Centrifuge } from 'centrifuge';
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf';
import { compileTagsFilter } from '../src/tags-filter.js';
import { once, RawClient, sdk, startApi, startServer, token, until, type TestServer } from './helpers.js';

/**
 * Publication filtering by tags (Centrifugo v6, the SDK's `tagsFilter`): the node delivers only
 * matching publications; a filter is validated at subscribe and a bad one refused with 107.
 */

test('every comparison and logical operator, on present and missing tags', () => {
  const t = { ticker: 'BTC', price: '50000.5', venue: 'binance-spot', n: '7' };
  const cases: [unknown, boolean][] = [
    [{ key: 'ticker', cmp: 'eq', val: 'BTC' }, true],
    [{ key: 'ticker', cmp: 'eq', val: 'ETH' }, false],
    [{ key: 'missing', cmp: 'eq', val: 'x' }, false],
    [{ key: 'ticker', cmp: 'neq', val: 'ETH' }, true],
    [{ key: 'missing', cmp: 'neq', val: 'x' }, true],
    [{ key: 'ticker', cmp: 'in', vals: ['ETH', 'BTC'] }, true],
    [{ key: 'ticker', cmp: 'in', vals: ['ETH'] }, false],
    [{ key: 'ticker', cmp: 'nin', vals: ['ETH'] }, true],
    [{ key: 'missing', cmp: 'nin', vals: ['ETH'] }, true],
    [{ key: 'ticker', cmp: 'ex' }, true],
    [{ key: 'missing', cmp: 'ex' }, false],
    [{ key: 'missing', cmp: 'nex' }, true],
    [{ key: 'constructor', cmp: 'ex' }, false],
    [{ key: 'venue', cmp: 'starts', val: 'bin' }, true],
    [{ key: 'venue', cmp: 'sw', val: 'spot' }, false],
    [{ key: 'venue', cmp: 'ends', val: 'spot' }, true],
    [{ key: 'venue', cmp: 'ew', val: 'bin' }, false],
    [{ key: 'venue', cmp: 'contains', val: 'ance-s' }, true],
    [{ key: 'venue', cmp: 'ct', val: 'kraken' }, false],
    [{ key: 'missing', cmp: 'contains', val: 'a' }, false],
    [{ key: 'price', cmp: 'gt', val: '50000' }, true],
    [{ key: 'price', cmp: 'gte', val: '50000.5' }, true],
    [{ key: 'price', cmp: 'lt', val: '50000.5' }, false],
    [{ key: 'n', cmp: 'lte', val: '1e1' }, true],
    [{ key: 'ticker', cmp: 'gt', val: '1' }, false], // not a number: no match
    [{ key: 'missing', cmp: 'lt', val: '1' }, false],
    [{ op: 'and', nodes: [{ key: 'ticker', cmp: 'eq', val: 'BTC' }, { key: 'price', cmp: 'gt', val: '1' }] }, true],
    [{ op: 'and', nodes: [{ key: 'ticker', cmp: 'eq', val: 'BTC' }, { key: 'price', cmp: 'lt', val: '1' }] }, false],
    [{ op: 'or', nodes: [{ key: 'ticker', cmp: 'eq', val: 'ETH' }, { key: 'n', cmp: 'eq', val: '7' }] }, true],
    [{ op: 'not', nodes: [{ key: 'ticker', cmp: 'eq', val: 'BTC' }] }, false],
  ];
  for (const [f, want] of cases) assert.equal(compileTagsFilter(f)(t), want, JSON.stringify(f));
});

test('bad filters are refused with 107 and a reason', () => {
  const bad: [unknown, RegExp][] = [
    ['x', /node must be an object/],
    [{}, /needs cmp/],
    [{ key: 'a', cmp: 'like', val: 'x' }, /unknown cmp "like"/],
    [{ op: 'xor', nodes: [] }, /unknown op "xor"/],
    [{ op: 'and', nodes: [] }, /at least one node/],
    [{ op: 'not', nodes: [{ key: 'a', cmp: 'ex' }, { key: 'b', cmp: 'ex' }] }, /exactly one node/],
    [{ key: 'a', cmp: 'eq' }, /eq needs val/],
    [{ key: 'a', cmp: 'in', vals: [] }, /in needs vals/],
    [{ key: 'a', cmp: 'in', val: 'x', vals: ['x'] }, /takes vals, not val/],
    [{ key: 'a', cmp: 'ex', val: 'x' }, /neither val nor vals/],
    [{ cmp: 'eq', val: 'x' }, /needs a key/],
    [{ key: 'a', cmp: 'gt', val: 'ten' }, /needs a number/],
    [{ key: 1, cmp: 'eq', val: 'x' }, /key must be a string/],
    [{ key: 'a', cmp: 'eq', val: 'x', nodes: [{ key: 'b', cmp: 'ex' }] }, /comparison has no nodes/],
    [{ op: 'or', nodes: Array.from({ length: 80 }, () => ({ key: 'a', cmp: 'ex' })) }, /more than 64 nodes/],
    [Array.from({ length: 12 }).reduce<unknown>((n) => ({ op: 'not', nodes: [n] }), { key: 'a', cmp: 'ex' }), /nested deeper/],
  ];
  for (const [f, re] of bad) {
    assert.throws(
      () => compileTagsFilter(f),
      (e: { code?: number; message?: string }) => e.code === 107 && re.test(e.message ?? ''),
      JSON.stringify(f).slice(0, 80),
    );
  }
});

describe('tags filters with the official SDK', () => {
  let srv: TestServer;
  const clients: (Centrifuge | CentrifugeProtobuf)[] = [];
  before(async () => {
    srv = await startServer({
      namespaces: {
        ticks: { allowSubscribeForClient: true, allowTagsFilter: true, historySize: 50, historyTtlMs: 300_000, forceRecovery: true, allowedDeltaTypes: ['fossil'] },
        plain: { allowSubscribeForClient: true },
      },
    });
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await srv.close();
  });

  for (const kind of ['json', 'protobuf'] as const) {
    test(`${kind}: only matching publications are delivered; others on the channel get everything`, async () => {
      const t = await token({ sub: `u-${kind}` });
      const c = kind === 'json' ? sdk(srv.url, { token: t }) : new CentrifugeProtobuf(srv.url, { websocket: WebSocket, token: t });
      const all = sdk(srv.url, { token: await token({ sub: 'all' }) });
      clients.push(c, all);
      for (const x of [c, all]) {
        const p = once(x, 'connected');
        x.connect();
        await p;
      }
      const channel = `ticks:${kind}`;
      const filtered = (c as Centrifuge).newSubscription(channel, {
        tagsFilter: { op: 'and', nodes: [{ key: 'ticker', cmp: 'in', vals: ['BTC', 'ETH'] }, { key: 'price', cmp: 'gte', val: '100' }] },
      });
      const got: { n: number; tags?: Record<string, string> }[] = [];
      filtered.on('publication', (p) => {
        const data = (kind === 'json' ? p.data : JSON.parse(new TextDecoder().decode(p.data as Uint8Array))) as { n: number };
        got.push({ n: data.n, ...(p.tags ? { tags: p.tags } : {}) });
      });
      const everything = all.newSubscription(channel);
      const allGot: number[] = [];
      everything.on('publication', (p) => allGot.push((p.data as { n: number }).n));
      for (const s of [filtered, everything]) {
        const ok = once(s, 'subscribed');
        s.subscribe();
        await ok;
      }
      const pubs: [string, string | undefined][] = [
        ['BTC', '150'],
        ['DOGE', '150'],
        ['ETH', '99'],
        ['ETH', '101.5'],
        ['BTC', undefined],
      ];
      for (let n = 0; n < pubs.length; n++) {
        const [ticker, price] = pubs[n]!;
        await srv.sb.publish(channel, { n }, { tags: { ticker, ...(price ? { price } : {}) } });
      }
      await srv.sb.publish(channel, { n: 99 }); // no tags at all: no match
      await until(() => allGot.length === pubs.length + 1);
      await until(() => got.length >= 2);
      // The unfiltered subscriber got the last one, so the filtered one had its chance too.
      assert.deepEqual(
        got.map((g) => g.n),
        [0, 3],
      );
      assert.deepEqual(got[1]!.tags, { ticker: 'ETH', price: '101.5' });
    });
  }

  test('the HTTP API: publish and broadcast carry tags, filtered delivery follows them; bad tags are 107 and publish nothing', async () => {
    const c = sdk(srv.url, { token: await token({ sub: 'api-tags' }) });
    clients.push(c);
    const conn = once(c, 'connected');
    c.connect();
    await conn;
    const channel = 'ticks:api';
    const filtered = c.newSubscription(channel, { tagsFilter: { key: 'ticker', cmp: 'eq', val: 'BTC' } });
    const got: { n: number; tags?: Record<string, string> }[] = [];
    filtered.on('publication', (p) => got.push({ n: (p.data as { n: number }).n, ...(p.tags ? { tags: p.tags } : {}) }));
    const ok = once(filtered, 'subscribed');
    filtered.subscribe();
    await ok;
    const api = await startApi(srv.sb);
    try {
      for (const [body, what] of [
        [{ channel, data: { n: 'bad' }, tags: { ticker: 1 } }, 'a number value'],
        [{ channel, data: { n: 'bad' }, tags: ['BTC'] }, 'an array'],
        [{ channel, data: { n: 'bad' }, tags: 'BTC' }, 'a string'],
      ] as const) {
        const r = await api.post('publish', body);
        assert.equal(r.error?.code, 107, `${what}: ${JSON.stringify(r)}`);
        assert.match(r.error?.message ?? '', /tags/);
      }
      assert.equal((await api.post('publish', { channel, data: { n: 1 }, tags: { ticker: 'ETH' } })).error, undefined);
      assert.equal((await api.post('publish', { channel, data: { n: 2 }, tags: { ticker: 'BTC', side: 'buy' } })).error, undefined);
      assert.equal((await api.post('broadcast', { channels: [channel], data: { n: 3 }, tags: { ticker: 'DOGE' } })).error, undefined);
      assert.equal((await api.post('broadcast', { channels: [channel], data: { n: 4 }, tags: { ticker: 'BTC' } })).error, undefined);
      await until(() => got.some((g) => g.n === 4), 10_000, 'the last matching publication');
      // The history holds everything published; the filtered subscriber got only the matches.
      const hist = await srv.sb.history(channel, { limit: -1 });
      assert.deepEqual(hist.publications.map((p) => (JSON.parse(p.data) as { n: number }).n), [1, 2, 3, 4], 'nothing of the refused ones');
      assert.deepEqual(got, [
        { n: 2, tags: { ticker: 'BTC', side: 'buy' } },
        { n: 4, tags: { ticker: 'BTC' } },
      ]);
    } finally {
      await api.close();
    }
  });

  test('a filter where the namespace does not allow one, a bad filter, or one with delta: refused with 107', async () => {
    const raw = new RawClient(srv.url);
    await raw.opened;
    raw.send({ id: 1, connect: { token: await token({ sub: 'raw' }) } });
    await raw.next((m) => m['id'] === 1);
    const tries: [Record<string, unknown>, RegExp][] = [
      [{ channel: 'plain:x', tf: { key: 'a', cmp: 'ex' } }, /not allowed in this channel/],
      [{ channel: 'ticks:x', tf: { key: 'a', cmp: 'like', val: 'b' } }, /unknown cmp/],
      [{ channel: 'ticks:x', tf: { key: 'a', cmp: 'ex' }, delta: 'fossil' }, /cannot be used together/],
    ];
    let id = 2;
    for (const [req, re] of tries) {
      raw.send({ id, subscribe: req });
      const r = await raw.next<{ error?: { code: number; message: string } }>((m) => m['id'] === id);
      assert.equal(r.error?.code, 107, JSON.stringify(req));
      assert.match(r.error.message, re);
      id++;
    }
    // The connection stays usable: a good filter subscribes.
    raw.send({ id, subscribe: { channel: 'ticks:ok', tf: { key: 'a', cmp: 'ex' } } });
    assert.equal((await raw.next<{ error?: unknown }>((m) => m['id'] === id)).error, undefined);
    raw.close();
  });

  test('recovered publications are filtered too', async () => {
    const channel = 'ticks:recover';
    const raw = new RawClient(srv.url);
    await raw.opened;
    raw.send({ id: 1, connect: { token: await token({ sub: 'rec' }) } });
    await raw.next((m) => m['id'] === 1);
    const pos = await srv.sb.history(channel, { limit: 0 });
    for (let n = 0; n < 4; n++) await srv.sb.publish(channel, { n }, { tags: { even: String(n % 2 === 0) } });
    raw.send({ id: 2, subscribe: { channel, recover: true, offset: pos.position.offset, epoch: pos.position.epoch, tf: { key: 'even', cmp: 'eq', val: 'true' } } });
    const r = await raw.next<{ subscribe: { recovered?: boolean; publications?: { data: { n: number } }[] } }>((m) => m['id'] === 2);
    assert.equal(r.subscribe.recovered, true);
    assert.deepEqual(r.subscribe.publications?.map((p) => p.data.n), [0, 2]);
    raw.close();
  });
});
