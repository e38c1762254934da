import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Centrifuge, type Subscription, SubscriptionState, UnauthorizedError } from 'centrifuge';
import { Disconnects, ReplyError } from '../src/index.js';
import { once, token, until, SDK_CHAT_NAMESPACE } from './helpers.js';
import { type EmulationTransport, type HttpTestServer, sdkOver, startHttpServer } from './http-transport-helpers.js';

const namespaces = {
  chat: SDK_CHAT_NAMESPACE,
  news: { allowSubscribeForClient: true, historySize: 100, historyTtlMs: 300_000, forceRecovery: true },
  many: { allowSubscribeForClient: true },
  secret: {},
};

type Pub = { data: unknown; offset?: number };

for (const transport of ['http_stream', 'sse'] as const satisfies readonly EmulationTransport[]) {
  describe(`the official centrifuge SDK over ${transport}`, () => {
    let srv: HttpTestServer;
    const clients: Centrifuge[] = [];
    const client = async (opts: Parameters<typeof sdkOver>[2] = {}, user = '42'): Promise<Centrifuge> => {
      const c = sdkOver(srv.base, transport, { token: await token({ sub: user, info: { name: `user-${user}` } }), ...opts });
      clients.push(c);
      return c;
    };
    const connected = async (c: Centrifuge) => {
      const p = once<{ client: string; transport: string }>(c, 'connected', 10_000);
      c.connect();
      return p;
    };
    const subscribed = async (c: Centrifuge, channel: string, opts = {}) => {
      const sub = c.newSubscription(channel, opts);
      const p = once<Record<string, unknown>>(sub, 'subscribed', 10_000);
      sub.subscribe();
      return { sub, ctx: await p };
    };
    const pubs = (sub: Subscription): Pub[] => {
      const got: Pub[] = [];
      sub.on('publication', (p) => got.push(p as Pub));
      return got;
    };

    before(async () => {
      srv = await startHttpServer({ namespaces, expiredCloseDelayMs: 1500 }, (sb) => {
        sb.rpc('getProfile', async (ctx) => ({ name: 'Bob', asked: ctx.data, by: ctx.client.user }));
        sb.rpc('fail', async () => {
          throw new ReplyError(4001, 'custom failure');
        });
      });
    });
    after(async () => {
      for (const c of clients) c.disconnect();
      await srv.close();
    });

    test('connects with a token over this transport; the server sees the transport and the user', async () => {
      const c = await client();
      const ctx = await connected(c);
      assert.equal(ctx.transport, transport);
      const conn = srv.sb.liveConnection(ctx.client);
      assert.equal(conn?.user, '42');
      assert.equal(conn?.transport.kind, transport);
    });

    test('subscribe, client publish and server publish are received in order', async () => {
      const a = await client({}, 'alice');
      const b = await client({}, 'bob');
      await connected(a);
      await connected(b);
      const { sub: sa } = await subscribed(a, 'chat:order');
      const { sub: sb } = await subscribed(b, 'chat:order');
      const gotA = pubs(sa);
      const gotB = pubs(sb);
      await sa.publish({ from: 'alice', n: 1 });
      for (let n = 2; n <= 20; n++) await srv.sb.publish('chat:order', { from: 'server', n });
      await until(() => gotA.length === 20 && gotB.length === 20, 10_000, 'twenty publications each');
      assert.deepEqual(gotB.map((p) => (p.data as { n: number }).n), Array.from({ length: 20 }, (_, i) => i + 1));
      assert.deepEqual(gotA.map((p) => p.offset), Array.from({ length: 20 }, (_, i) => i + 1));
    });

    test('presence, presence stats and history', async () => {
      const a = await client({}, 'pa');
      const b = await client({}, 'pb');
      await connected(a);
      await connected(b);
      const { sub } = await subscribed(a, 'chat:presence');
      await subscribed(b, 'chat:presence');
      const p = await sub.presence();
      assert.deepEqual(Object.values(p.clients).map((i) => i.user).sort(), ['pa', 'pb']);
      const stats = await sub.presenceStats();
      assert.deepEqual(stats, { numClients: 2, numUsers: 2 });
      for (let i = 0; i < 3; i++) await srv.sb.publish('chat:presence', { i });
      const h = await sub.history({ limit: 2, reverse: true });
      assert.deepEqual(h.publications.map((x) => x.data), [{ i: 2 }, { i: 1 }]);
      assert.equal(h.offset, 3);
    });

    test('a dropped stream is followed by a reconnect that recovers what was published meanwhile (recovered true)', async () => {
      const c = await client({ minReconnectDelay: 400, maxReconnectDelay: 600 });
      const id = (await connected(c)).client;
      const { sub } = await subscribed(c, 'news:recover');
      const got = pubs(sub);
      await srv.sb.publish('news:recover', { n: 0 });
      await until(() => got.length === 1);
      const resubscribed = once<Record<string, unknown>>(sub, 'subscribed', 10_000);
      const dropped = once(c, 'connecting');
      srv.sb.liveConnection(id)!.transport.terminate();
      await dropped;
      for (let i = 1; i <= 3; i++) await srv.sb.publish('news:recover', { n: i });
      const ctx = await resubscribed;
      assert.equal(ctx['wasRecovering'], true);
      assert.equal(ctx['recovered'], true);
      await until(() => got.length === 4);
      assert.deepEqual(got.map((p) => (p.data as { n: number }).n), [0, 1, 2, 3]);
      // The old stream's session is gone from the server.
      await until(() => srv.sb.liveConnection(id) === undefined);
    });

    test('the connection token is refreshed through getToken and the connection stays', async () => {
      let issued = 0;
      const c = sdkOver(srv.base, transport, {
        getToken: async () => {
          issued++;
          return token({ sub: 'refresher' }, { expiresIn: 2 });
        },
      });
      clients.push(c);
      const id = (await connected(c)).client;
      await until(() => issued >= 3, 15_000, 'two refreshes');
      assert.equal(c.state, 'connected');
      assert.ok(srv.sb.liveConnection(id), 'the same connection throughout');
    });

    test('a subscription token is refreshed through the subscription getToken', async () => {
      const c = await client({}, 'subtok');
      await connected(c);
      let issued = 0;
      const { sub } = await subscribed(c, 'secret:doc', {
        getToken: async () => {
          issued++;
          return token({ sub: 'subtok', channel: 'secret:doc' }, { expiresIn: 2 });
        },
      });
      await until(() => issued >= 2, 15_000, 'a subscription refresh');
      assert.equal(sub.state, 'subscribed');
    });

    test('RPC: result, 104 for an unknown method, the handler error code', async () => {
      const c = await client({}, 'rpc-user');
      await connected(c);
      const r = await c.rpc('getProfile', { q: 1 });
      assert.deepEqual(r.data, { name: 'Bob', asked: { q: 1 }, by: 'rpc-user' });
      await assert.rejects(c.rpc('nope', {}), (e: { code: number }) => e.code === 104);
      await assert.rejects(c.rpc('fail', {}), (e: { code: number; message: string }) => e.code === 4001 && e.message === 'custom failure');
    });

    test('an invalid token is refused with 3500 and the SDK does not retry; a forbidden subscribe gets 103', async () => {
      const bad = sdkOver(srv.base, transport, { token: await token({ sub: '42' }, { secret: 'another-key' }) });
      clients.push(bad);
      const d = once<{ code: number }>(bad, 'disconnected', 10_000);
      bad.connect();
      assert.equal((await d).code, Disconnects.invalidToken.code);

      const c = await client({}, 'nosub');
      await connected(c);
      const sub = c.newSubscription('secret:nope');
      const refused = once<{ code: number }>(sub, 'unsubscribed', 10_000);
      sub.subscribe();
      assert.equal((await refused).code, 103);
    });

    test('getToken refusing with UnauthorizedError ends as disconnected', async () => {
      const c = sdkOver(srv.base, transport, {
        getToken: async () => {
          throw new UnauthorizedError('no');
        },
      });
      clients.push(c);
      const d = once(c, 'disconnected', 10_000);
      c.connect();
      await d;
      assert.equal(c.state, 'disconnected');
    });

    test('a server-side disconnect asking to reconnect is followed by a reconnect; one that does not leaves the client disconnected', async () => {
      const c = await client({}, `bouncer-${transport}`);
      await connected(c);
      const reconnecting = once<{ code: number }>(c, 'connecting', 10_000);
      await srv.sb.disconnectUser({ user: `bouncer-${transport}` }, Disconnects.forceReconnect);
      assert.equal((await reconnecting).code, Disconnects.forceReconnect.code);
      await once(c, 'connected', 10_000);

      const d = once<{ code: number; reason: string }>(c, 'disconnected', 10_000);
      await srv.sb.disconnectUser({ user: `bouncer-${transport}` });
      const ctx = await d;
      assert.equal(ctx.code, 3503);
      assert.equal(ctx.reason, 'force disconnect');
    });

    test('many subscriptions made and dropped in a loop end with exactly the last set, all receiving', async () => {
      const c = await client({}, 'looper');
      const id = (await connected(c)).client;
      const subs: Subscription[] = [];
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 30; i++) {
          const s = c.getSubscription(`many:${i}`) ?? c.newSubscription(`many:${i}`);
          s.subscribe();
          if (round < 2) s.unsubscribe();
          else subs.push(s);
        }
      }
      await until(() => subs.every((s) => s.state === SubscriptionState.Subscribed), 15_000, 'thirty subscriptions');
      await until(() => srv.sb.liveConnection(id)?.subscriptions.size === 30, 10_000, 'the server holds thirty');
      const got = subs.map(pubs);
      for (let i = 0; i < 30; i++) await srv.sb.publish(`many:${i}`, { i });
      await until(() => got.every((g) => g.length === 1), 10_000, 'one publication on each');
    });

    test('RPC with no handlers on the node answers 108 (not available)', async () => {
      const bare = await startHttpServer({ allowAnonymous: true });
      try {
        const c = sdkOver(bare.base, transport);
        clients.push(c);
        await connected(c);
        await assert.rejects(c.rpc('anything', {}), (e: { code: number }) => e.code === 108);
        c.disconnect();
      } finally {
        await bare.close();
      }
    });
  });
}
