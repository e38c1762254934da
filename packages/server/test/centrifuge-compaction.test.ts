import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import type { Centrifuge, Subscription } from 'centrifuge';
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf';
import { once, RawClient, sdk, startServer, token, until, type TestServer } from './helpers.js';

/**
 * Channel compaction (the SDK's subscribe flag 1, namespace `allowChannelCompaction`): the
 * subscribe reply gives a numeric id and pushes carry it instead of the channel name.
 */
describe('channel compaction', () => {
  let srv: TestServer;
  const clients: (Centrifuge | CentrifugeProtobuf)[] = [];
  before(async () => {
    srv = await startServer({
      namespaces: {
        cc: { allowSubscribeForClient: true, allowChannelCompaction: true, joinLeave: true, presence: true, historySize: 20, historyTtlMs: 300_000, forceRecovery: true, allowedDeltaTypes: ['fossil'], deltaPublish: true },
        plain: { allowSubscribeForClient: true },
      },
    });
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await srv.close();
  });

  test('on the wire: the reply carries the id, pushes carry it and no channel name; a namespace without the option is not compacted', async () => {
    const raw = new RawClient(srv.url);
    await raw.opened;
    raw.send({ id: 1, connect: { token: await token({ sub: 'raw' }) } });
    await raw.next((m) => m['id'] === 1);
    raw.send({ id: 2, subscribe: { channel: 'cc:one', flag: 1 } });
    raw.send({ id: 3, subscribe: { channel: 'cc:two', flag: 1 } });
    raw.send({ id: 4, subscribe: { channel: 'plain:x', flag: 1 } });
    const one = (await raw.next<{ subscribe: { id?: number } }>((m) => m['id'] === 2)).subscribe.id;
    const two = (await raw.next<{ subscribe: { id?: number } }>((m) => m['id'] === 3)).subscribe.id;
    const plain = (await raw.next<{ subscribe: { id?: number } }>((m) => m['id'] === 4)).subscribe.id;
    assert.ok(typeof one === 'number' && one > 0 && typeof two === 'number' && two > 0 && one !== two, `${one} ${two}`);
    assert.equal(plain, undefined);
    await srv.sb.publish('cc:two', { to: 'two' });
    await srv.sb.publish('plain:x', { to: 'plain' });
    const p2 = await raw.next<{ push: { id?: number; channel?: string; pub: { data: unknown } } }>((m) => (m['push'] as { pub?: { data: { to?: string } } } | undefined)?.pub?.data.to === 'two');
    assert.equal(p2.push.id, two);
    assert.equal(p2.push.channel, undefined);
    const px = await raw.next<{ push: { id?: number; channel?: string } }>((m) => (m['push'] as { pub?: { data: { to?: string } } } | undefined)?.pub?.data.to === 'plain');
    assert.equal(px.push.channel, 'plain:x');
    assert.equal(px.push.id, undefined);
    raw.close();
  });

  test('on the wire: an unsubscribed id gets no pushes, a resubscribe and a reconnect get their own ids and pushes carry exactly those', async () => {
    type PushMsg = { push?: { id?: number; channel?: string; pub?: { data: { n: number } } } };
    const subscribeAll = async (raw: RawClient, first: number, channels: string[]) => {
      const out: Record<string, number> = {};
      channels.forEach((channel, i) => raw.send({ id: first + i, subscribe: { channel, flag: 1 } }));
      for (let i = 0; i < channels.length; i++) {
        const r = await raw.next<{ subscribe: { id?: number } }>((m) => m['id'] === first + i);
        out[channels[i]!] = r.subscribe.id!;
      }
      return out;
    };
    /** Publishes n to each channel and answers the push id each one arrived with (every push carries an id, no name). */
    const pushIds = async (raw: RawClient, channels: string[], n: number) => {
      for (const ch of channels) await srv.sb.publish(ch, { n });
      const out: number[] = [];
      for (let i = 0; i < channels.length; i++) {
        const m = await raw.next<PushMsg>((x) => (x as PushMsg).push?.pub?.data.n === n);
        assert.equal(m.push!.channel, undefined);
        out.push(m.push!.id!);
      }
      return out.sort((a, b) => a - b);
    };
    const [r1, r2, r3] = ['cc:wire-1', 'cc:wire-2', 'cc:wire-3'];
    let raw = new RawClient(srv.url);
    try {
      await raw.opened;
      raw.send({ id: 1, connect: { token: await token({ sub: 'wire' }) } });
      await raw.next((m) => m['id'] === 1);
      const first = await subscribeAll(raw, 2, [r1, r2]);
      assert.deepEqual(await pushIds(raw, [r1, r2], 1), [first[r1]!, first[r2]!].sort((a, b) => a - b));

      // Unsubscribed: a publication to r1, then one to r2; once r2's arrived, nothing carried r1's id.
      raw.send({ id: 10, unsubscribe: { channel: r1 } });
      await raw.next((m) => m['id'] === 10);
      await srv.sb.publish(r1, { n: 2 });
      await srv.sb.publish(r2, { n: 2 });
      const marker = await raw.next<PushMsg>((m) => (m as PushMsg).push?.pub?.data.n === 2);
      assert.equal(marker.push!.id, first[r2]);
      assert.ok(!raw.messages.some((m) => (m as PushMsg).push?.id === first[r1]), 'no push with the unsubscribed id');

      // Another compacted channel first, then r1 again: each its own id, pushes carry exactly those.
      const again = await subscribeAll(raw, 20, [r3, r1]);
      assert.notEqual(again[r1], first[r1], 'r1 had no subscriber left on the node: it is numbered anew');
      assert.equal(new Set([again[r1], again[r3], first[r2]]).size, 3);
      assert.deepEqual(await pushIds(raw, [r1, r2, r3], 3), [again[r1]!, again[r3]!, first[r2]!].sort((a, b) => a - b));
      raw.close();

      // Reconnect: a new connection subscribing in another order; its pushes carry its reply's ids.
      raw = new RawClient(srv.url);
      await raw.opened;
      raw.send({ id: 1, connect: { token: await token({ sub: 'wire' }) } });
      await raw.next((m) => m['id'] === 1);
      const fresh = await subscribeAll(raw, 2, [r3, r2, r1]);
      assert.deepEqual(await pushIds(raw, [r1, r2, r3], 4), Object.values(fresh).sort((a, b) => a - b));
    } finally {
      raw.close();
    }
  });

  for (const kind of ['json', 'protobuf'] as const) {
    test(`${kind} SDK: publications and join/leave reach the right subscription (JSON: routed by id); correct after unsubscribe, resubscribe and reconnect`, async () => {
      const ids: string[] = [];
      const t = await token({ sub: `k-${kind}` });
      const c =
        kind === 'json'
          ? sdk(srv.url, { token: t, minReconnectDelay: 300, maxReconnectDelay: 500 })
          : new CentrifugeProtobuf(srv.url, { websocket: WebSocket, token: t, minReconnectDelay: 300, maxReconnectDelay: 500, timeout: 3000 });
      clients.push(c);
      c.on('connected', (ctx) => ids.push(ctx.client));
      const p = once(c, 'connected');
      c.connect();
      await p;
      const decode = (d: unknown): unknown => (kind === 'json' ? d : JSON.parse(new TextDecoder().decode(d as Uint8Array)));
      const got: Record<string, unknown[]> = { a: [], b: [] };
      const joins: string[] = [];
      const subs: Record<string, Subscription> = {};
      for (const name of ['a', 'b'] as const) {
        const s = (c as Centrifuge).newSubscription(`cc:${kind}-${name}`, name === 'a' ? { joinLeave: true } : { delta: 'fossil' });
        s.on('publication', (x) => got[name]!.push(decode(x.data)));
        if (name === 'a') s.on('join', (j) => joins.push(j.info.user));
        const ok = once(s, 'subscribed');
        s.subscribe();
        await ok;
        subs[name] = s;
      }
      const pubBoth = async (n: number) => {
        await srv.sb.publish(`cc:${kind}-a`, { a: n });
        await srv.sb.publish(`cc:${kind}-b`, { b: n, pad: 'x'.repeat(200) });
      };
      await pubBoth(1);
      await until(() => got['a']!.length === 1 && got['b']!.length === 1);
      const other = sdk(srv.url, { token: await token({ sub: `visitor-${kind}` }) });
      clients.push(other);
      other.connect();
      const vs = other.newSubscription(`cc:${kind}-a`);
      vs.subscribe();
      await until(() => joins.includes(`visitor-${kind}`));

      // Unsubscribe b, publish (missed), subscribe again: a fresh id mapping, right routing.
      const serverSub = (ch: string) => srv.sb.liveConnection(ids[ids.length - 1]!)!.subscriptions.get(ch);
      const bIdBefore = serverSub(`cc:${kind}-b`)!.compactId;
      const gone = once(subs['b']!, 'unsubscribed');
      subs['b']!.unsubscribe();
      await gone;
      await pubBoth(2);
      const back = once(subs['b']!, 'subscribed');
      subs['b']!.subscribe();
      await back;
      if (kind === 'json') {
        // b was the channel's only subscriber: the node dropped it and numbered it anew, so an SDK
        // that kept the old id's mapping would lose b's publications from here on.
        const bIdAfter = serverSub(`cc:${kind}-b`)!.compactId;
        assert.ok(bIdBefore !== undefined && bIdAfter !== undefined && bIdAfter !== bIdBefore, `b's id ${bIdBefore} then ${bIdAfter}`);
      }
      await pubBoth(3);
      await until(() => got['a']!.length === 3 && got['b']!.length === 3);

      // Reconnect: ids are per connection; the subscriptions recover and keep routing right.
      const dropped = once(c, 'connecting');
      srv.sb.liveConnection(ids[ids.length - 1]!)!.transport.terminate();
      await dropped;
      await pubBoth(4);
      await once(c, 'connected', 10_000);
      await pubBoth(5);
      await until(() => got['a']!.length === 5 && got['b']!.length === 5, 10_000);
      if (kind === 'json') assert.ok(srv.sb.liveConnection(ids[ids.length - 1]!)!.subscriptions.get(`cc:${kind}-a`)!.compactId! > 0, 'compacted');
      else assert.equal(srv.sb.liveConnection(ids[ids.length - 1]!)!.subscriptions.get(`cc:${kind}-a`)!.compactId, undefined, 'Protobuf subscriptions are not compacted');
      assert.deepEqual(got['a'], [1, 2, 3, 4, 5].map((n) => ({ a: n })));
      const bs = got['b']!.map((x) => (x as { b: number }).b);
      // The SDK recovers on resubscribe and on reconnect: b gets every publication, in order.
      assert.deepEqual(bs, [1, 2, 3, 4, 5]);
      assert.ok(got['b']!.every((x) => (x as { pad: string }).pad.length === 200));
    });
  }
});
