import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { Broker, BrokerEventHandler } from '../broker.js';
import type { HistoryStore } from '../history.js';
import type { ClientInfo, HistoryOptions, Publication } from '../types.js';
import { uniqueChannel, waitFor } from './util.js';

export interface BrokerHarness {
  /** A new broker on the shared backend: each call is another node (call once when `multiNode` is false). */
  broker(): Promise<Broker>;
  /** The history store the brokers append to. */
  readonly history: HistoryStore;
  /** Whether several brokers from `broker()` form several nodes of one server. */
  readonly multiNode: boolean;
  /** Closes every broker it made and releases the backend. */
  close(): Promise<void>;
}

type Event =
  | { kind: 'pub'; channel: string; pub: Publication }
  | { kind: 'join' | 'leave'; channel: string; info: ClientInfo }
  | { kind: 'control'; message: string };

/** A BrokerEventHandler that records everything it is handed. */
export class Recorder implements BrokerEventHandler {
  readonly events: Event[] = [];
  reconnects = 0;
  onPublication(channel: string, pub: Publication): void {
    this.events.push({ kind: 'pub', channel, pub });
  }
  onJoin(channel: string, info: ClientInfo): void {
    this.events.push({ kind: 'join', channel, info });
  }
  onLeave(channel: string, info: ClientInfo): void {
    this.events.push({ kind: 'leave', channel, info });
  }
  onControl(message: string): void {
    this.events.push({ kind: 'control', message });
  }
  onReconnect(): void {
    this.reconnects++;
  }
  pubs(channel: string): Publication[] {
    const out: Publication[] = [];
    for (const e of this.events) if (e.kind === 'pub' && e.channel === channel) out.push(e.pub);
    return out;
  }
  data(channel: string): unknown[] {
    return this.pubs(channel).map((p) => JSON.parse(p.data) as unknown);
  }
  controls(): string[] {
    const out: string[] = [];
    for (const e of this.events) if (e.kind === 'control') out.push(e.message);
    return out;
  }
}

const HISTORY: HistoryOptions = { size: 1000, ttlMs: 60_000 };

function pub(n: number, extra: Partial<Publication> = {}): Publication {
  return { data: JSON.stringify({ n }), ...extra };
}

async function node(h: BrokerHarness): Promise<{ broker: Broker; rec: Recorder }> {
  const broker = await h.broker();
  const rec = new Recorder();
  await broker.start(rec);
  return { broker, rec };
}

/** Publishes markers on `ch` (which `rec` is subscribed to) until one arrives: what was sent before it on one node has arrived. */
async function barrier(publisher: Broker, rec: Recorder, ch: string): Promise<void> {
  const id = `barrier-${Math.random()}`;
  await publisher.publish(ch, { data: JSON.stringify({ barrier: id }) });
  await waitFor(() => rec.pubs(ch).some((p) => p.data.includes(id)), 5000, 'the barrier publication');
}

/**
 * Registers node:test tests checking every clause of the Broker contract (broker.ts). A multi-node
 * harness also gets the cross-node clauses (delivery, ordering, control fan-out, subscribe-before-resolve).
 */
export function brokerConformance(name: string, factory: () => Promise<BrokerHarness>): void {
  const it = (title: string, fn: (h: BrokerHarness, t: TestContext) => Promise<void>, multi = false) =>
    void test(`${name} broker: ${title}`, async (t) => {
      const h = await factory();
      try {
        if (multi && !h.multiNode) return t.skip('a single-node broker');
        await fn(h, t);
      } finally {
        await h.close();
      }
    });

  it('a subscribed channel receives publications without history: no offset, fields kept, in order', async (h) => {
    const { broker, rec } = await node(h);
    const ch = uniqueChannel('b');
    await broker.subscribe(ch);
    const info = { user: 'u', client: 'c', connInfo: '{"i":1}' };
    const pos = await broker.publish(ch, pub(0, { info, tags: { t: '1' }, time: 42 }));
    assert.equal(pos, undefined, 'no position without history');
    for (let i = 1; i < 50; i++) await broker.publish(ch, pub(i));
    await waitFor(() => rec.pubs(ch).length === 50, 5000, '50 publications');
    assert.deepEqual(
      rec.data(ch),
      Array.from({ length: 50 }, (_, i) => ({ n: i })),
    );
    const first = rec.pubs(ch)[0]!;
    assert.ok(!first.offset, 'no offset without history');
    assert.deepEqual(first.info, info);
    assert.deepEqual(first.tags, { t: '1' });
    assert.equal(first.time, 42);
    assert.equal((await h.history.position(ch)).offset, 0, 'nothing stored without history options');
  });

  it('publish with history appends, assigns gapless offsets and delivers in offset order', async (h) => {
    const { broker, rec } = await node(h);
    const ch = uniqueChannel('b');
    await broker.subscribe(ch);
    const positions = await Promise.all(Array.from({ length: 30 }, (_, i) => broker.publish(ch, pub(i), { history: HISTORY })));
    const offsets = positions.map((p) => p!.offset).sort((a, b) => a - b);
    assert.deepEqual(offsets, Array.from({ length: 30 }, (_, i) => i + 1));
    await waitFor(() => rec.pubs(ch).length === 30, 5000, '30 publications');
    const got = rec.pubs(ch);
    assert.deepEqual(
      got.map((p) => p.offset),
      offsets,
      'delivered in offset order',
    );
    const epoch = positions[0]!.epoch;
    assert.ok(got.every((p) => p.epoch === epoch));
    // the returned position is the publication's own
    for (let i = 0; i < 30; i++) {
      const delivered = got.find((p) => p.offset === positions[i]!.offset)!;
      assert.deepEqual(JSON.parse(delivered.data), { n: i });
    }
    const hist = await h.history.read(ch, { limit: -1 });
    assert.deepEqual(
      hist.publications.map((p) => p.offset),
      offsets,
    );
    assert.deepEqual(hist.position, { offset: 30, epoch });
  });

  it('delivery targeting travels with the publication but is not stored', async (h) => {
    const { broker, rec } = await node(h);
    const ch = uniqueChannel('b');
    await broker.subscribe(ch);
    const delivery = { exceptClient: 'a', toUsers: ['u1', 'u2'], originClient: 'o', originRequest: '7' };
    await broker.publish(ch, pub(1, { delivery }), { history: HISTORY });
    await broker.publish(ch, pub(2, { delivery: { toClients: ['c9'] } }));
    await waitFor(() => rec.pubs(ch).length === 2, 5000, 'two publications');
    assert.deepEqual(rec.pubs(ch)[0]!.delivery, delivery);
    assert.deepEqual(rec.pubs(ch)[1]!.delivery, { toClients: ['c9'] });
    const hist = await h.history.read(ch, { limit: -1 });
    assert.equal(hist.publications[0]!.delivery, undefined);
  });

  it('join and leave reach subscribers, in order with publications', async (h) => {
    const { broker, rec } = await node(h);
    const ch = uniqueChannel('b');
    await broker.subscribe(ch);
    const info = { user: 'u1', client: 'c1', chanInfo: '{"k":1}' };
    await broker.publishJoin(ch, info);
    await broker.publish(ch, pub(1));
    await broker.publishLeave(ch, info);
    await waitFor(() => rec.events.filter((e) => 'channel' in e && e.channel === ch).length === 3, 5000, 'three events');
    const evs = rec.events.filter((e) => 'channel' in e && e.channel === ch);
    assert.deepEqual(
      evs.map((e) => e.kind),
      ['join', 'pub', 'leave'],
    );
    assert.deepEqual((evs[0] as { info: ClientInfo }).info, info);
    assert.deepEqual((evs[2] as { info: ClientInfo }).info, info);
  });

  it('a channel nobody subscribed to delivers nothing; unsubscribe stops delivery', async (h) => {
    const { broker, rec } = await node(h);
    const ch = uniqueChannel('b');
    const other = uniqueChannel('b');
    await broker.subscribe(other);
    await broker.publish(ch, pub(1));
    await broker.publish(ch, pub(2), { history: HISTORY });
    await broker.publishJoin(ch, { user: 'u', client: 'c' });
    await broker.subscribe(ch);
    await broker.publish(ch, pub(3));
    await waitFor(() => rec.pubs(ch).length === 1, 5000, 'the publication after subscribe');
    await broker.unsubscribe(ch);
    await broker.publish(ch, pub(4));
    await broker.publish(ch, pub(5), { history: HISTORY });
    await barrier(broker, rec, other);
    // Nothing more arrives for ch: subscribed again, a later publication is the first one after 3
    // (a stray delivery of 4 or 5 would come before it, the channel being ordered).
    await broker.subscribe(ch);
    await broker.publish(ch, pub(6));
    await waitFor(() => rec.pubs(ch).length >= 2, 5000, 'the publication after subscribing again');
    assert.deepEqual(rec.data(ch), [{ n: 3 }, { n: 6 }], 'only the publications made while subscribed');
    assert.ok(!rec.events.some((e) => e.kind === 'join' && e.channel === ch));
    assert.equal((await h.history.position(ch)).offset, 2, 'history is appended whether or not anyone listens');
  });

  it('subscribing twice is harmless: one delivery per publication', async (h) => {
    const { broker, rec } = await node(h);
    const ch = uniqueChannel('b');
    await broker.subscribe(ch);
    await broker.subscribe(ch);
    await broker.publish(ch, pub(1));
    await broker.publish(ch, pub(2));
    await broker.publish(ch, pub(3));
    // the third publication marks the end: a duplicate of 1 or 2 would arrive before it
    await waitFor(() => rec.data(ch).some((d) => (d as { n?: number }).n === 3), 5000, 'the third publication');
    assert.deepEqual(rec.data(ch), [{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it('control messages reach the sender', async (h) => {
    const { broker, rec } = await node(h);
    await broker.publishControl('{"op":"hello"}');
    await waitFor(() => rec.controls().includes('{"op":"hello"}'), 5000, 'the control message');
  });

  it('a publication on one node reaches every subscribed node', async (h) => {
    const a = await node(h);
    const b = await node(h);
    const c = await node(h);
    const ch = uniqueChannel('b');
    await a.broker.subscribe(ch);
    await b.broker.subscribe(ch);
    await c.broker.publish(ch, pub(1));
    await c.broker.publish(ch, pub(2), { history: HISTORY });
    await c.broker.publishJoin(ch, { user: 'u', client: 'x' });
    for (const n of [a, b]) {
      await waitFor(() => n.rec.pubs(ch).length === 2 && n.rec.events.some((e) => e.kind === 'join' && e.channel === ch), 5000, 'delivery on every node');
      assert.deepEqual(n.rec.data(ch), [{ n: 1 }, { n: 2 }]);
      assert.equal(n.rec.pubs(ch)[1]!.offset, 1);
    }
    assert.equal(c.rec.pubs(ch).length, 0, 'the publishing node is not subscribed');
  }, true);

  it('a subscription is live once subscribe resolves', async (h) => {
    const a = await node(h);
    const b = await node(h);
    const channels = Array.from({ length: 20 }, () => uniqueChannel('b'));
    await Promise.all(
      channels.map(async (ch, i) => {
        await a.broker.subscribe(ch);
        await b.broker.publish(ch, pub(i));
      }),
    );
    await waitFor(() => channels.every((ch) => a.rec.pubs(ch).length === 1), 5000, 'every first publication');
  }, true);

  it('publications of one channel from several nodes arrive everywhere in the same gapless offset order', async (h) => {
    const nodes = [await node(h), await node(h), await node(h)];
    const ch = uniqueChannel('b');
    for (const n of nodes) await n.broker.subscribe(ch);
    const per = 40;
    await Promise.all(
      nodes.map(async (n, k) => {
        const pending: Promise<unknown>[] = [];
        for (let i = 0; i < per; i++) pending.push(n.broker.publish(ch, pub(k * 1000 + i), { history: HISTORY }));
        await Promise.all(pending);
      }),
    );
    const total = per * nodes.length;
    for (const n of nodes) {
      await waitFor(() => n.rec.pubs(ch).length === total, 10_000, `${total} publications on every node`);
      assert.deepEqual(
        n.rec.pubs(ch).map((p) => p.offset),
        Array.from({ length: total }, (_, i) => i + 1),
        'gapless offset order',
      );
    }
    // and every node saw the same publication at the same offset
    assert.deepEqual(nodes[0]!.rec.data(ch), nodes[1]!.rec.data(ch));
    assert.deepEqual(nodes[0]!.rec.data(ch), nodes[2]!.rec.data(ch));
  }, true);

  it('control messages reach every node, the sender included', async (h) => {
    const nodes = [await node(h), await node(h), await node(h)];
    await nodes[1]!.broker.publishControl('{"op":"x","n":1}');
    await nodes[2]!.broker.publishControl('{"op":"x","n":2}');
    for (const n of nodes) {
      await waitFor(() => n.rec.controls().length >= 2, 5000, 'both control messages on every node');
      assert.deepEqual(n.rec.controls().sort(), ['{"op":"x","n":1}', '{"op":"x","n":2}']);
    }
  }, true);

  it('unsubscribe on one node stops delivery there only', async (h) => {
    const a = await node(h);
    const b = await node(h);
    const ch = uniqueChannel('b');
    await a.broker.subscribe(ch);
    await b.broker.subscribe(ch);
    await a.broker.unsubscribe(ch);
    await a.broker.publish(ch, pub(1));
    await barrier(a.broker, b.rec, ch);
    // a, subscribed again, gets a later publication first: a stray delivery of 1 would come before it
    await a.broker.subscribe(ch);
    await a.broker.publish(ch, pub(2));
    await waitFor(() => a.rec.pubs(ch).length >= 1, 5000, 'the publication after subscribing again');
    assert.deepEqual(a.rec.data(ch), [{ n: 2 }]);
    assert.deepEqual(b.rec.data(ch)[0], { n: 1 });
  }, true);
}
