import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf';
import type { Centrifuge } from 'centrifuge';
import { Disconnects } from '../src/index.js';
import { Command, Reply } from '../src/protocols/centrifuge/proto-schema.js';
import { once, sdk, startApi, startServer, token, until, type TestServer, SDK_CHAT_NAMESPACE, jsonBytes as enc, fromJsonBytes as dec } from './helpers.js';

/**
 * The official SDK's Protobuf build (`centrifuge/build/protobuf`), unchanged, against a node: the
 * `centrifuge-protobuf` subprotocol, binary frames, varint-length-delimited replies; payloads are
 * bytes (the JSON text's bytes), so a JSON client and a Protobuf client share channels.
 */

const namespaces = {
  chat: SDK_CHAT_NAMESPACE,
  secret: {},
};


type Pub = { data: unknown; offset?: number; info?: { user: string; connInfo?: unknown } };

function pbSdk(url: string, options: Record<string, unknown> = {}): CentrifugeProtobuf {
  return new CentrifugeProtobuf(url, { websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 300, timeout: 3000, ...options });
}

describe('the official Protobuf SDK against a Switchboard node', () => {
  let srv: TestServer;
  const clients: (CentrifugeProtobuf | Centrifuge)[] = [];
  const client = async (opts: Record<string, unknown> = {}, user = '42'): Promise<CentrifugeProtobuf> => {
    const c = pbSdk(srv.url, { token: await token({ sub: user, info: { name: `user-${user}` } }), ...opts });
    clients.push(c);
    return c;
  };
  const connected = async (c: CentrifugeProtobuf | Centrifuge) => {
    const p = once<{ client: string }>(c, 'connected');
    c.connect();
    return p;
  };
  const subscribed = async (c: CentrifugeProtobuf, channel: string, opts = {}) => {
    const sub = c.newSubscription(channel, opts);
    const p = once<Record<string, unknown>>(sub, 'subscribed');
    sub.subscribe();
    return { sub, ctx: await p };
  };

  before(async () => {
    srv = await startServer({ namespaces }, (sb) => {
      sb.rpc('echo', async (ctx) => ({ got: ctx.data, by: ctx.client.user }));
    });
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await srv.close();
  });

  test('connects with a token over the centrifuge-protobuf subprotocol, in binary frames', async () => {
    const c = await client();
    const ctx = await connected(c);
    const conn = srv.sb.liveConnection(ctx.client);
    assert.equal(conn?.user, '42');
    assert.equal(conn?.protocol, 'centrifuge');
    assert.equal((conn?.transport as unknown as { ws: WebSocket }).ws.protocol, 'centrifuge-protobuf');
  });

  test('an invalid token ends in a disconnect with 3500', async () => {
    const c = pbSdk(srv.url, { token: await token({ sub: '42' }, { secret: 'another-key' }) });
    clients.push(c);
    const d = once<{ code: number }>(c, 'disconnected');
    c.connect();
    assert.equal((await d).code, Disconnects.invalidToken.code);
  });

  test('subscribe, app publications with offsets, client publish with info', async () => {
    const a = await client({}, 'alice');
    const b = await client({}, 'bob');
    await connected(a);
    await connected(b);
    const { sub: sa, ctx } = await subscribed(a, 'chat:pb1');
    assert.equal(ctx['recoverable'], true);
    const { sub: sb2 } = await subscribed(b, 'chat:pb1');
    const got: Pub[] = [];
    sb2.on('publication', (p) => got.push(p as Pub));
    for (let i = 1; i <= 3; i++) await srv.sb.publish('chat:pb1', { n: i });
    await sa.publish(enc({ text: 'hi' }));
    await until(() => got.length === 4);
    assert.deepEqual(got.map((p) => dec(p.data)), [{ n: 1 }, { n: 2 }, { n: 3 }, { text: 'hi' }]);
    assert.deepEqual(got.map((p) => p.offset), [1, 2, 3, 4]);
    assert.equal(got[3]!.info?.user, 'alice');
    assert.deepEqual(dec(got[3]!.info?.connInfo), { name: 'user-alice' });
  });

  test('a JSON client and a Protobuf client on one channel both receive every publication from app code, the HTTP API and each other', async () => {
    const pb = await client({}, 'pb');
    const js = sdk(srv.url, { token: await token({ sub: 'js' }) });
    clients.push(js);
    await connected(pb);
    await connected(js);
    const { sub: pbSub } = await subscribed(pb, 'chat:mixed');
    const jsSub = js.newSubscription('chat:mixed');
    const s = once(jsSub, 'subscribed');
    jsSub.subscribe();
    await s;
    const pbGot: unknown[] = [];
    const jsGot: unknown[] = [];
    pbSub.on('publication', (p) => pbGot.push(dec(p.data)));
    jsSub.on('publication', (p) => jsGot.push(p.data));
    await srv.sb.publish('chat:mixed', { from: 'app' });
    await until(() => pbGot.length === 1 && jsGot.length === 1);
    const api = await startApi(srv.sb);
    try {
      const r = await api.post('publish', { channel: 'chat:mixed', data: { from: 'api' } });
      assert.equal(typeof r.result?.['offset'], 'number', JSON.stringify(r));
    } finally {
      await api.close();
    }
    await until(() => pbGot.length === 2 && jsGot.length === 2);
    await pbSub.publish(enc({ from: 'pb' }));
    await until(() => pbGot.length === 3 && jsGot.length === 3);
    await jsSub.publish({ from: 'js' });
    await until(() => pbGot.length === 4 && jsGot.length === 4);
    const want = [{ from: 'app' }, { from: 'api' }, { from: 'pb' }, { from: 'js' }];
    assert.deepEqual(pbGot, want);
    assert.deepEqual(jsGot, want);
  });

  test('presence, presence stats and history', async () => {
    const a = await client({}, 'p1');
    const b = await client({}, 'p2');
    const ida = (await connected(a)).client;
    const idb = (await connected(b)).client;
    const { sub } = await subscribed(a, 'chat:pbpres');
    await subscribed(b, 'chat:pbpres');
    const pr = await sub.presence();
    assert.deepEqual(Object.keys(pr.clients).sort(), [ida, idb].sort());
    assert.equal(pr.clients[ida]!.user, 'p1');
    assert.deepEqual(dec(pr.clients[ida]!.connInfo), { name: 'user-p1' });
    assert.deepEqual(await sub.presenceStats(), { numClients: 2, numUsers: 2 });
    for (let i = 1; i <= 5; i++) await srv.sb.publish('chat:pbpres', { i });
    const all = await sub.history({ limit: -1 });
    assert.deepEqual(all.publications.map((p) => p.offset), [1, 2, 3, 4, 5]);
    assert.equal(all.offset, 5);
    const since = await sub.history({ limit: 10, since: { offset: 3, epoch: all.epoch } });
    assert.deepEqual(since.publications.map((p) => dec(p.data)), [{ i: 4 }, { i: 5 }]);
    const rev = await sub.history({ limit: 2, reverse: true });
    assert.deepEqual(rev.publications.map((p) => p.offset), [5, 4]);
    await assert.rejects(sub.history({ limit: 10, since: { offset: 1, epoch: 'wrong' } }), (e: { code: number }) => e.code === 112);
  });

  test('join and leave pushes', async () => {
    const a = await client({}, 'watcher');
    await connected(a);
    const { sub } = await subscribed(a, 'chat:pbjl', { joinLeave: true });
    const joins: string[] = [];
    const leaves: string[] = [];
    sub.on('join', (j) => joins.push(j.info.user));
    sub.on('leave', (l) => leaves.push(l.info.user));
    const b = await client({}, 'visitor');
    await connected(b);
    const { sub: s2 } = await subscribed(b, 'chat:pbjl');
    await until(() => joins.includes('visitor'));
    s2.unsubscribe();
    await until(() => leaves.includes('visitor'));
  });

  test('recovery after a dropped connection delivers the missed publications', async () => {
    const c = await client({ minReconnectDelay: 400, maxReconnectDelay: 600 });
    const id = (await connected(c)).client;
    const { sub } = await subscribed(c, 'chat:pbrecover');
    await srv.sb.publish('chat:pbrecover', { n: 0 });
    const got: Pub[] = [];
    sub.on('publication', (p) => got.push(p as Pub));
    await until(() => got.length === 1);
    const resubscribed = new Promise<Record<string, unknown>>((resolve) => sub.once('subscribed', resolve as never));
    const dropped = once(c, 'connecting');
    srv.sb.liveConnection(id)!.transport.terminate();
    await dropped;
    for (let i = 1; i <= 3; i++) await srv.sb.publish('chat:pbrecover', { n: i });
    const ctx = await resubscribed;
    assert.equal(ctx['wasRecovering'], true);
    assert.equal(ctx['recovered'], true);
    await until(() => got.length === 4);
    assert.deepEqual(got.map((p) => (dec(p.data) as { n: number }).n), [0, 1, 2, 3]);
    assert.deepEqual(got.map((p) => p.offset), [1, 2, 3, 4]);
  });

  test('RPC round trip; an unknown method gets 104', async () => {
    const c = await client();
    await connected(c);
    const r = await c.rpc('echo', enc({ id: 17 }));
    assert.deepEqual(dec(r.data), { got: { id: 17 }, by: '42' });
    await assert.rejects(c.rpc('nope', enc({})), (e: { code: number }) => e.code === 104);
  });

  test('a publish whose bytes are not JSON text is refused with 107', async () => {
    const c = await client();
    await connected(c);
    const { sub } = await subscribed(c, 'chat:pbbinary');
    await assert.rejects(sub.publish(new Uint8Array([0xff, 0x00, 0x01])), (e: { code: number }) => e.code === 107);
    assert.equal(c.state, 'connected');
  });

  test('connection and subscription tokens are refreshed and the connection stays', async () => {
    let issued = 0;
    const c = pbSdk(srv.url, {
      getToken: async () => {
        issued++;
        return token({ sub: 'refresher' }, { expiresIn: 2 });
      },
    });
    clients.push(c);
    let subIssued = 0;
    await connected(c);
    const sub = c.newSubscription('secret:pbroom', {
      getToken: async (ctx: { channel: string }) => {
        subIssued++;
        return token({ sub: 'refresher', channel: ctx.channel }, { expiresIn: 2 });
      },
    });
    const p = once(sub, 'subscribed');
    sub.subscribe();
    await p;
    await until(() => issued >= 3 && subIssued >= 3, 12_000, 'refreshes');
    assert.equal(c.state, 'connected');
    assert.equal(sub.state, 'subscribed');
  });

  test('server pings are answered by the SDK (pong)', async () => {
    const s2 = await startServer({ namespaces, pingIntervalMs: 300 });
    try {
      const c = pbSdk(s2.url, { token: await token({ sub: 'pinger' }) });
      clients.push(c);
      const id = (await connected(c)).client;
      const conn = s2.sb.liveConnection(id)!;
      // Several ping/pong rounds pass without the server closing for a missing pong.
      await until(() => conn.lastPingAt > 0 && !conn.awaitingPong, 5000, 'a pong');
      assert.equal(c.state, 'connected');
      c.disconnect();
    } finally {
      await s2.close();
    }
  });

  test('a server disconnect reaches the SDK with its code and no reconnect', async () => {
    const c = await client({}, 'banned-pb');
    await connected(c);
    const d = once<{ code: number; reason: string }>(c, 'disconnected');
    await srv.sb.disconnectUser({ user: 'banned-pb' });
    const ctx = await d;
    assert.equal(ctx.code, 3503);
  });

  test('?format=protobuf selects Protobuf without the subprotocol; a text frame on it is refused', async () => {
    const ws = new WebSocket(`${srv.url}?format=protobuf`);
    const frames: Buffer[] = [];
    ws.on('message', (d: Buffer, isBinary: boolean) => {
      assert.equal(isBinary, true);
      frames.push(d);
    });
    await once(ws, 'open');
    ws.send(Command.encodeDelimited({ id: 1, connect: { token: await token({ sub: 'raw-pb' }) } }).finish());
    await until(() => frames.length > 0);
    const reply = Reply.toObject(Reply.decodeDelimited(frames[0]!)) as { id: number; connect?: { client: string } };
    assert.equal(reply.id, 1);
    assert.ok(srv.sb.liveConnection(reply.connect!.client));
    const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
    ws.send('{"id":2,"ping":{}}');
    assert.equal(await closed, Disconnects.inappropriateProtocol.code);
  });
});

test('fan-out encodes a publication once per encoding: 10 Protobuf and 10 JSON subscribers, one Protobuf and one JSON encode each', async () => {
  const srv = await startServer({ namespaces });
  const json = srv.sb.protocol('centrifuge')!;
  const pbProto = json.variant!(new Set(['centrifuge-protobuf']), new URLSearchParams());
  assert.notEqual(pbProto, json);
  const calls = { json: 0, protobuf: 0 };
  for (const [name, p] of [
    ['json', json],
    ['protobuf', pbProto],
  ] as const) {
    const orig = p.encodePublication.bind(p);
    (p as { encodePublication: typeof orig }).encodePublication = (ch, pub) => {
      calls[name]++;
      return orig(ch, pub);
    };
  }
  const clients: (CentrifugeProtobuf | Centrifuge)[] = [];
  const got: unknown[][] = [];
  try {
    for (let i = 0; i < 20; i++) {
      const t = await token({ sub: `fan-${i}` });
      const c = i % 2 === 0 ? pbSdk(srv.url, { token: t }) : sdk(srv.url, { token: t });
      clients.push(c);
      const received: unknown[] = [];
      got.push(received);
      const sub = (c as Centrifuge).newSubscription('chat:fan');
      sub.on('publication', (p) => received.push(i % 2 === 0 ? dec(p.data) : p.data));
      const s = once(sub, 'subscribed');
      c.connect();
      sub.subscribe();
      await s;
    }
    for (let n = 0; n < 5; n++) await srv.sb.publish('chat:fan', { n });
    await until(() => got.every((g) => g.length === 5), 10_000, 'five publications at every subscriber');
    for (const g of got) assert.deepEqual(g, [0, 1, 2, 3, 4].map((n) => ({ n })));
    assert.deepEqual(calls, { json: 5, protobuf: 5 });
  } finally {
    for (const c of clients) c.disconnect();
    await srv.close();
  }
});
