import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import type { Centrifuge } from 'centrifuge';
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf';
import { once, RawClient, sdk, startApi, startServer, token, until, type TestServer } from './helpers.js';

/**
 * Fossil delta compression with the official SDK (JSON and Protobuf builds), `delta: 'fossil'`:
 * every publication decodes to exactly what was published, with and without history, through
 * recovery and resubscribe; the saving is measured with the SDK's own delta statistics.
 */

const namespaces = {
  // Centrifugo OSS's case: a stream with recovery, every publication sent as a delta.
  stream: { allowSubscribeForClient: true, historySize: 50, historyTtlMs: 300_000, forceRecovery: true, allowedDeltaTypes: ['fossil' as const], deltaPublish: true },
  // No history: the node keeps the channel's last publication; deltas only where the publisher asks.
  live: { allowSubscribeForClient: true, allowedDeltaTypes: ['fossil' as const] },
  nodelta: { allowSubscribeForClient: true },
};

/** A document where each publication changes a few fields of many: what delta compression is for. */
function doc(i: number): Record<string, unknown> {
  return {
    id: 'instrument-42',
    seq: i,
    price: 100 + (i % 7) * 0.25,
    volume: 1000 + i,
    book: Array.from({ length: 20 }, (_, k) => ({ level: k, bid: 99 - k * 0.05, ask: 101 + k * 0.05, size: 10 * (k + 1) + (k === i % 20 ? i : 0) })),
    note: 'ü€ non-ASCII stays exact',
  };
}

type Sdk = Centrifuge | CentrifugeProtobuf;
const decodePb = (d: unknown): unknown => JSON.parse(new TextDecoder().decode(d as Uint8Array));

describe('fossil delta compression with the official SDK', () => {
  let srv: TestServer;
  const clients: Sdk[] = [];

  const ids = new Map<Sdk, string>();
  const make = async (kind: 'json' | 'protobuf', user: string, opts: Record<string, unknown> = {}): Promise<Sdk> => {
    const t = await token({ sub: user });
    const c =
      kind === 'json'
        ? sdk(srv.url, { token: t, ...opts })
        : new CentrifugeProtobuf(srv.url, { websocket: WebSocket, token: t, minReconnectDelay: 50, maxReconnectDelay: 300, timeout: 3000, ...opts });
    clients.push(c);
    const p = once<{ client: string }>(c, 'connected');
    c.connect();
    ids.set(c, (await p).client);
    return c;
  };
  const subscribe = async (c: Sdk, channel: string, kind: 'json' | 'protobuf', opts: Record<string, unknown> = { delta: 'fossil' }) => {
    const sub = (c as Centrifuge).newSubscription(channel, opts);
    const got: unknown[] = [];
    sub.on('publication', (p) => got.push(kind === 'json' ? p.data : decodePb(p.data)));
    const s = once<Record<string, unknown>>(sub, 'subscribed');
    sub.subscribe();
    return { sub, got, ctx: await s };
  };

  before(async () => {
    srv = await startServer({ namespaces });
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await srv.close();
  });

  for (const kind of ['json', 'protobuf'] as const) {
    test(`${kind}: many small diffs on a stream with history decode exactly; the saving is reported`, async (t) => {
      const c = await make(kind, `d-${kind}`);
      const plain = await make(kind, `p-${kind}`);
      const channel = `stream:many-${kind}`;
      const { sub, got } = await subscribe(c, channel, kind);
      const { got: plainGot } = await subscribe(plain, channel, kind, {});
      const want: unknown[] = [];
      for (let i = 0; i < 100; i++) {
        want.push(doc(i));
        await srv.sb.publish(channel, doc(i));
      }
      await until(() => got.length === 100 && plainGot.length === 100, 10_000, 'every publication');
      assert.deepEqual(got, want);
      assert.deepEqual(plainGot, want);
      const st = sub.deltaStats();
      assert.equal(st.numPublications, 100);
      assert.equal(st.numFullPayloads, 1, 'only the first publication goes full');
      assert.equal(st.numDeltaPayloads, 99);
      assert.ok(st.bytesReceived < st.bytesDecoded / 4, `payload bytes received ${st.bytesReceived} vs full ${st.bytesDecoded}`);
      t.diagnostic(`${kind}: 100 publications of ~${Math.round(st.bytesDecoded / 100)} B: payload bytes received ${st.bytesReceived} instead of ${st.bytesDecoded} (saving ${(st.compressionRatio * 100).toFixed(1)} %)`);
    });

    test(`${kind}: a channel without history sends deltas where the publisher asks (the node keeps the last publication)`, async () => {
      const c = await make(kind, `h-${kind}`);
      const channel = `live:nohist-${kind}`;
      const { sub, got, ctx } = await subscribe(c, channel, kind);
      assert.equal(ctx['recoverable'], false);
      const want: unknown[] = [];
      for (let i = 0; i < 10; i++) {
        want.push(doc(i));
        // Every other publication asks for delta: the others go full and restart the chain.
        await srv.sb.publish(channel, doc(i), { delta: i % 2 === 1 });
      }
      await until(() => got.length === 10);
      assert.deepEqual(got, want);
      const st = sub.deltaStats();
      assert.equal(st.numDeltaPayloads, 5);
      assert.equal(st.numFullPayloads, 5);
    });

    test(`${kind}: after a dropped connection the subscription recovers and the chain restarts correctly`, async () => {
      const c = await make(kind, `r-${kind}`, { minReconnectDelay: 400, maxReconnectDelay: 600 });
      const channel = `stream:recover-${kind}`;
      const { sub, got } = await subscribe(c, channel, kind);
      const want: unknown[] = [];
      const pub = async (i: number) => {
        want.push(doc(i));
        await srv.sb.publish(channel, doc(i));
      };
      for (let i = 0; i < 3; i++) await pub(i);
      await until(() => got.length === 3);
      const resubscribed = new Promise<Record<string, unknown>>((resolve) => sub.once('subscribed', resolve as never));
      const dropped = once(c, 'connecting');
      srv.sb.liveConnection(ids.get(c)!)!.transport.terminate();
      await dropped;
      for (let i = 3; i < 6; i++) await pub(i);
      const ctx = await resubscribed;
      assert.equal(ctx['recovered'], true);
      for (let i = 6; i < 10; i++) await pub(i);
      await until(() => got.length === 10);
      assert.deepEqual(got, want);
      assert.ok(sub.deltaStats().numDeltaPayloads >= 5, JSON.stringify(sub.deltaStats()));
    });

    test(`${kind}: unsubscribe and subscribe again restarts the chain`, async () => {
      const c = await make(kind, `u-${kind}`);
      const channel = `stream:resub-${kind}`;
      const { sub, got } = await subscribe(c, channel, kind);
      for (let i = 0; i < 3; i++) await srv.sb.publish(channel, doc(i));
      await until(() => got.length === 3);
      const gone = once(sub, 'unsubscribed');
      sub.unsubscribe();
      await gone;
      for (let i = 3; i < 5; i++) await srv.sb.publish(channel, doc(i)); // missed while unsubscribed
      const again = once(sub, 'subscribed');
      sub.subscribe();
      await again;
      for (let i = 5; i < 8; i++) await srv.sb.publish(channel, doc(i));
      await until(() => got.length >= 6);
      assert.deepEqual(got.slice(0, 3), [doc(0), doc(1), doc(2)]);
      // Fresh subscription (no recovery asked by the SDK after unsubscribe): the next ones decode exactly.
      assert.deepEqual(got.slice(-3), [doc(5), doc(6), doc(7)]);
    });
  }

  test('the HTTP API: publish with delta: true sends deltas, without it full payloads; a bad delta field is 107', async () => {
    const c = await make('json', 'api-delta');
    const channel = 'live:api';
    const { sub, got } = await subscribe(c, channel, 'json');
    const api = await startApi(srv.sb);
    try {
      const want: unknown[] = [];
      for (let i = 0; i < 6; i++) {
        want.push(doc(i));
        // The first goes full (no previous one); then four deltas, then one full because the publisher did not ask.
        const r = await api.post('publish', { channel, data: doc(i), ...(i < 5 ? { delta: true } : {}) });
        assert.equal(r.error, undefined, JSON.stringify(r));
      }
      await until(() => got.length === 6, 10_000, 'six publications');
      assert.deepEqual(got, want);
      const st = sub.deltaStats();
      assert.equal(st.numDeltaPayloads, 4, JSON.stringify(st));
      assert.equal(st.numFullPayloads, 2, JSON.stringify(st));
      const bad = await api.post('publish', { channel, data: doc(9), delta: 'yes' });
      assert.equal(bad.error?.code, 107, JSON.stringify(bad));
      assert.match(bad.error?.message ?? '', /delta/);
    } finally {
      await api.close();
    }
  });

  test('a delta type the namespace does not allow is refused with 107', async () => {
    const c = await make('json', 'refused');
    const sub = (c as Centrifuge).newSubscription('nodelta:x', { delta: 'fossil' });
    // 107 is not temporary: the SDK gives up on the subscription with that code.
    const gone = once<{ code: number; reason: string }>(sub, 'unsubscribed');
    sub.subscribe();
    const e = await gone;
    assert.equal(e.code, 107);
    assert.match(e.reason, /delta type "fossil" not allowed/);
    // A type no namespace knows (the SDK only sends 'fossil'; a raw client may send anything).
    const raw = new RawClient(srv.url);
    await raw.opened;
    raw.send({ id: 1, connect: { token: await token({ sub: 'raw' }) } });
    await raw.next((m) => m['id'] === 1);
    raw.send({ id: 2, subscribe: { channel: 'stream:x', delta: 'xdelta' } });
    const r = await raw.next<{ error?: { code: number } }>((m) => m['id'] === 2);
    assert.equal(r.error?.code, 107);
    raw.close();
  });
});

test('a delta subscriber whose queue overflows is disconnected as slow (3008) even where the namespace drops publications', async () => {
  const srv = await startServer({
    limits: { maxQueueBytes: 256 * 1024 },
    namespaces: { drop: { allowSubscribeForClient: true, slowConsumer: 'drop-oldest', allowedDeltaTypes: ['fossil'], deltaPublish: true } },
  });
  const raw = new RawClient(srv.url);
  try {
    await raw.opened;
    raw.send({ id: 1, connect: { token: await token({ sub: 'slow' }) } });
    const id = (await raw.next<{ connect: { client: string } }>((m) => m['id'] === 1)).connect.client;
    raw.send({ id: 2, subscribe: { channel: 'drop:feed', delta: 'fossil' } });
    assert.equal((await raw.next<{ subscribe?: { delta?: boolean } }>((m) => m['id'] === 2)).subscribe?.delta, true);
    raw.ws.pause();
    // Random payloads: no delta is smaller, so each goes full and the queue fills.
    let sent = 0;
    while (srv.sb.liveConnection(id) !== undefined && sent < 96 * 1024 * 1024) {
      for (let i = 0; i < 8; i++) {
        const p = randomBytes(8 * 1024).toString('hex');
        await srv.sb.publish('drop:feed', { p });
        sent += p.length;
      }
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(srv.sb.liveConnection(id), undefined, 'the delta subscriber was disconnected');
    assert.equal(srv.sb.stats.disconnects.get(3008), 1);
    raw.ws.resume();
    assert.equal((await raw.waitClose(10_000)).code, 3008);
  } finally {
    raw.close();
    await srv.close();
  }
});
