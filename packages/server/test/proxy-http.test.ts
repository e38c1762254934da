import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';
import { installProxies, proxyStats, type Logger, type SwitchboardOptions } from '../src/index.js';
import { HttpBackend, type BackendCall } from '../src/testing/index.js';
import { freePort, once, RawClient, sdk, startServer, token, until, type TestServer } from './helpers.js';

const now = () => Math.floor(Date.now() / 1000);

/** What the test backend answers, per event, like an app backend written for Centrifugo. */
function answer(call: BackendCall): unknown {
  const b = call.body;
  const data = (b['data'] ?? {}) as Record<string, unknown>;
  const channel = typeof b['channel'] === 'string' ? b['channel'] : '';
  switch (call.path) {
    case '/connect':
      if (call.headers['x-allowed'] === 'deny') return { disconnect: { code: 4501, reason: 'unauthorized' } };
      if (data['mode'] === 'decline') return { disconnect: { code: 4501, reason: 'unauthorized' } };
      if (data['mode'] === 'error') return { error: { code: 1000, message: 'custom connect error' } };
      if (data['mode'] === 'expiring') return { result: { user: 'exp', expire_at: now() + 2 } };
      // expires after its subscription (timed:, 2 s) has been refreshed twice, so both are seen
      if (data['mode'] === 'retry') return { result: { user: 'retry', expire_at: now() + 5 } };
      if (data['mode'] === 'subs') return { result: { user: 'subs-user', subs: { 'news:s': { info: { seat: 1 }, data: { hello: 'sub' }, override: { presence: { value: true } } } } } };
      return { result: { user: typeof data['user'] === 'string' ? data['user'] : '56', info: { name: 'Ann' }, data: { welcome: true }, channels: ['news:1'], meta: { tier: 'gold' } } };
    case '/refresh':
      // 'retry': the first call fails (HTTP 500), the one after the retry delay ends the connection
      if (b['user'] === 'retry') return ++retryRefreshes === 1 ? { status: 500 } : { result: { expired: true } };
      // the first refresh extends the connection, the second ends it
      return answerRefresh();
    case '/subscribe':
      if (channel === 'chat:deny') return { error: { code: 403, message: 'not allowed' } };
      if (channel === 'chat:kick') return { disconnect: { code: 4503, reason: 'go away' } };
      if (channel.startsWith('quiet:')) return { result: { info: { role: 'viewer' }, override: { presence: { value: true } } } };
      if (channel.startsWith('timed:')) return { result: { expire_at: now() + 2 } };
      // join/leave travel with presence here (docs/design.md §4), so the override turns both on
      if (channel === 'jl:asked') return { result: { override: { presence: { value: true }, join_leave: { value: true } } } };
      if (channel === 'jl:forced') return { result: { override: { presence: { value: true }, force_push_join_leave: { value: true } } } };
      if (channel === 'rec:recovery') return { result: { override: { force_recovery: { value: true } } } };
      if (channel === 'rec:positioning') return { result: { override: { force_positioning: { value: true } } } };
      return { result: { info: { role: 'admin' }, data: { motd: 'hi' } } };
    case '/publish':
      if (data['text'] === 'forbidden') return { error: { code: 1001, message: 'no' } };
      if (data['text'] === 'rewrite') return { result: { data: { text: 'rewritten' }, skip_history: true } };
      return { result: {} };
    case '/rpc':
      if (b['method'] === 'fail') return { error: { code: 1002, message: 'rpc failed' } };
      return { result: { data: { got: b['data'], user: b['user'], method: b['method'] } } };
    case '/sub_refresh':
      if (channel === 'timed:retry') return ++retrySubRefreshes === 1 ? { status: 500 } : { result: { expired: true } };
      return answerSubRefresh();
    case '/slow':
      return { hang: true };
    case '/mapped':
      return { status: channel === 'mapped:gone' ? 404 : 403 };
    case '/bin':
      // binary_encoding: data arrives as base64 of its JSON text; answer in base64 too
      return { result: { b64data: Buffer.from(JSON.stringify({ decoded: JSON.parse(Buffer.from(String(b['b64data']), 'base64').toString()) })).toString('base64') } };
    case '/bad':
      if (channel === 'bad:notjson') return { raw: 'this is not json' };
      if (channel === 'bad:types') return { result: { expire_at: 'soon' } };
      if (channel === 'bad:huge') return { result: { data: 'x'.repeat(10_000) } };
      if (channel === 'bad:b64') return { result: { b64info: '%%%' } };
      if (channel === 'bad:status') return { status: 500 };
      return { result: {} };
  }
  return { status: 404 };
}

let refreshes = 0;
function answerRefresh(): unknown {
  refreshes++;
  return refreshes === 1 ? { result: { expire_at: now() + 2 } } : { result: { expired: true } };
}
let subRefreshes = 0;
let retryRefreshes = 0;
let retrySubRefreshes = 0;
function answerSubRefresh(): unknown {
  subRefreshes++;
  return subRefreshes === 1 ? { result: { expire_at: now() + 2, info: { refreshed: true } } } : { result: { expired: true } };
}

/** A logger that keeps what it was told. */
function recordingLogger(): Logger & { lines: { level: string; obj: object; msg: string | undefined }[] } {
  const lines: { level: string; obj: object; msg: string | undefined }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('HTTP proxies: a Centrifugo backend decides, the official SDK connects', () => {
  let backend: HttpBackend;
  let srv: TestServer;
  const logger = recordingLogger();
  const clients: Centrifuge[] = [];
  const raws: RawClient[] = [];
  let deadPort = 0;

  const client = (opts: Parameters<typeof sdk>[1] = {}): Centrifuge => {
    const c = sdk(srv.url, opts);
    clients.push(c);
    return c;
  };
  const connected = async (c: Centrifuge) => {
    const p = once<{ client: string; data?: unknown }>(c, 'connected');
    c.connect();
    return p;
  };
  const raw = async (): Promise<RawClient> => {
    const r = new RawClient(srv.url);
    raws.push(r);
    await r.opened;
    return r;
  };

  before(async () => {
    backend = await new HttpBackend(answer).start();
    deadPort = await freePort();
    const namespaces: SwitchboardOptions['namespaces'] = {
      chat: { presence: true, allowPresenceForSubscriber: true, historySize: 10, historyTtlMs: 60_000, allowHistoryForSubscriber: true },
      quiet: { allowPresenceForSubscriber: true },
      timed: {},
      news: { allowSubscribeForClient: true },
      open: { allowSubscribeForClient: true, allowPublishForSubscriber: true },
      slow: {},
      dead: {},
      bad: {},
      mapped: {},
      // no join/leave, no recovery, no positioning of their own: only the backend's override turns them on
      jl: {},
      rec: { historySize: 10, historyTtlMs: 60_000 },
    };
    // refreshRetryMs: a failed refresh is asked again after 300 ms instead of Centrifugo's 60 s
    srv = await startServer({ namespaces, allowAnonymous: false, logger, refreshRetryMs: 300 }, (sb) => {
      installProxies(sb, {
        connect: {
          endpoint: backend.url('/connect'),
          httpHeaders: ['x-allowed', 'authorization', 'host', 'connection'],
          emulatedHeaders: ['authorization', 'x-emulated'],
          staticHeaders: { 'x-static': 's', 'x-allowed': 'static-loses' },
        },
        refresh: { endpoint: backend.url('/refresh') },
        subscribe: { endpoint: backend.url('/subscribe'), includeConnectionMeta: true },
        publish: { endpoint: backend.url('/publish') },
        subRefresh: { endpoint: backend.url('/sub_refresh') },
        rpc: { endpoint: backend.url('/rpc') },
        named: {
          slow: { endpoint: backend.url('/slow'), timeoutMs: 300 },
          dead: { endpoint: `http://127.0.0.1:${deadPort}/subscribe` },
          bad: { endpoint: backend.url('/bad'), maxResponseBytes: 1024 },
          mapped: {
            endpoint: backend.url('/mapped'),
            statusToCodeTransforms: [
              { statusCode: 403, toError: { code: 1403, message: 'forbidden by status', temporary: false } },
              { statusCode: 404, toDisconnect: { code: 4404, reason: 'gone' } },
            ],
          },
          bin: { endpoint: backend.url('/bin'), binaryEncoding: true },
        },
        namespaces: {
          chat: { subscribe: 'default', publish: 'default' },
          quiet: { subscribe: 'default' },
          timed: { subscribe: 'default', subRefresh: 'default' },
          slow: { subscribe: 'slow' },
          dead: { subscribe: 'dead' },
          bad: { subscribe: 'bad' },
          mapped: { subscribe: 'mapped' },
          jl: { subscribe: 'default' },
          rec: { subscribe: 'default' },
        },
        rpcNamespaces: { '': { proxy: 'default' }, local: {}, bin: { proxy: 'bin' } },
      });
    });
    srv.sb.attach(srv.http, { path: '/ws', protocol: 'plain' });
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    for (const r of raws) r.close();
    await srv.close();
    await backend.close();
  });

  test('connect without a token: the backend chooses user, info, data, channels; the request has Centrifugo\'s shape', async () => {
    const c = client({ data: { user: '77' }, name: 'js-test', version: '1.2.3' });
    const serverSide = once<{ channel: string }>(c, 'subscribed');
    const ctx = await connected(c);
    assert.deepEqual(ctx.data, { welcome: true });
    assert.equal((await serverSide).channel, 'news:1');
    const call = backend.callsTo('/connect').find((x) => x.body['client'] === ctx.client);
    assert.ok(call, 'the backend was asked about this very client');
    assert.equal(call.body['transport'], 'websocket');
    assert.equal(call.body['protocol'], 'json');
    assert.equal(call.body['encoding'], 'json');
    assert.deepEqual(call.body['data'], { user: '77' });
    assert.equal(call.headers['content-type'], 'application/json');
    // the user and info the backend chose are what others see (presence info in a subscription)
    const sub = c.newSubscription('chat:room1');
    const subscribed = once<{ data?: unknown }>(sub, 'subscribed');
    sub.subscribe();
    // the subscribe result's data reaches the client in its subscribe reply
    assert.deepEqual((await subscribed).data, { motd: 'hi' });
    const presence = await sub.presence();
    const me = Object.values(presence.clients).find((p) => p.client === ctx.client);
    assert.equal(me?.user, '77');
    assert.deepEqual(me?.connInfo, { name: 'Ann' });
    assert.deepEqual(me?.chanInfo, { role: 'admin' });
    // the subscribe request carried the connection's meta (include_connection_meta)
    const subCall = backend.callsTo('/subscribe').find((x) => x.body['client'] === ctx.client && x.body['channel'] === 'chat:room1');
    assert.deepEqual(subCall?.body['meta'], { tier: 'gold' });
    assert.equal(subCall?.body['user'], '77');
  });

  test('every protocol that authenticates at the upgrade goes through the connect proxy (plain JSON here)', async () => {
    const url = srv.url.replace('/connection/websocket', '/ws');
    const ok = new RawClient(url);
    raws.push(ok);
    const hello = await ok.next<{ type: string; client: string; user: string }>((m) => m['type'] === 'connected');
    assert.equal(hello.user, '56');
    assert.ok(backend.callsTo('/connect').some((x) => x.body['client'] === hello.client), 'the backend saw the id the connection got');
    const refused = new RawClient(url, { headers: { 'x-allowed': 'deny' } });
    await assert.rejects(refused.opened, /HTTP 403/);
  });

  test('a declined connect gives the backend\'s disconnect code, and the SDK does not come back', async () => {
    const c = client({ data: { mode: 'decline' } });
    const before = backend.callsTo('/connect').length;
    const gone = once<{ code: number; reason: string }>(c, 'disconnected');
    c.connect();
    const d = await gone;
    assert.equal(d.code, 4501);
    assert.equal(d.reason, 'unauthorized');
    // a later client's connect is the positive event after which the declined one would have retried
    await connected(client({ data: { user: 'later' } }));
    const declinedCalls = backend.callsTo('/connect').slice(before).filter((x) => (x.body['data'] as Record<string, unknown> | undefined)?.['mode'] === 'decline');
    assert.equal(declinedCalls.length, 1);
    assert.equal(c.state, 'disconnected');
  });

  test('a connect error from the backend is the connect reply error, code as the backend chose', async () => {
    const r = await raw();
    r.send({ id: 1, connect: { data: { mode: 'error' } } });
    const reply = await r.next((m) => m['id'] === 1);
    assert.deepEqual(reply['error'], { code: 1000, message: 'custom connect error' });
  });

  test('refresh proxy: the server extends an expiring connection, then ends it with 3005', async () => {
    const r = await raw();
    r.send({ id: 1, connect: { data: { mode: 'expiring' } } });
    const reply = await r.next<{ connect: Record<string, unknown> }>((m) => m['id'] === 1);
    assert.equal(reply.connect['expires'], undefined, 'the client is not asked to refresh: the server does');
    const closed = await r.waitClose(10_000);
    assert.equal(closed.code, 3005);
    const calls = backend.callsTo('/refresh').filter((x) => x.body['client'] === reply.connect['client']);
    assert.equal(calls.length, 2, 'extended once, then expired');
    assert.equal(calls[0]!.body['user'], 'exp');
  });

  test('subscribe proxy: declined with the backend\'s error; a disconnect closes the connection with its code', async () => {
    const c = client({ data: { user: 'sub-tester' } });
    await connected(c);
    const sub = c.newSubscription('chat:deny');
    const unsub = once<{ code: number; reason: string }>(sub, 'unsubscribed');
    sub.subscribe();
    const u = await unsub;
    assert.equal(u.code, 403);
    assert.equal(u.reason, 'not allowed');

    const r = await raw();
    r.send({ id: 1, connect: { data: { user: 'kicked' } } });
    await r.next((m) => m['id'] === 1);
    r.send({ id: 2, subscribe: { channel: 'chat:kick' } });
    const closed = await r.waitClose();
    assert.equal(closed.code, 4503);
    assert.equal(closed.reason, 'go away');
  });

  test('subscribe proxy: info reaches presence, and override turns presence on for the subscription', async () => {
    const c = client({ data: { user: 'q1' } });
    const ctx = await connected(c);
    const sub = c.newSubscription('quiet:1');
    sub.subscribe();
    await once(sub, 'subscribed');
    // the namespace keeps no presence; the override tracks this subscriber anyway (the namespace
    // still answers presence queries with 108, as Centrifugo does: read the store)
    const presence = await srv.sb.presenceStore.get('quiet:1');
    assert.equal(presence.get(ctx.client)?.chanInfo, '{"role":"viewer"}');
  });

  test('publish proxy: data rewritten (and kept out of history), refused with the backend\'s error', async () => {
    const a = client({ data: { user: 'pub-a' } });
    await connected(a);
    const sub = a.newSubscription('chat:pub');
    const got: unknown[] = [];
    sub.on('publication', (p) => got.push(p.data));
    sub.subscribe();
    await once(sub, 'subscribed');
    await sub.publish({ text: 'rewrite' });
    await sub.publish({ text: 'plain' });
    await until(() => got.length === 2, 5000, 'two publications');
    assert.deepEqual(got, [{ text: 'rewritten' }, { text: 'plain' }]);
    const history = await sub.history({ limit: 10 });
    assert.deepEqual(
      history.publications.map((p) => p.data),
      [{ text: 'plain' }],
      'skip_history kept the rewritten one out',
    );
    await assert.rejects(sub.publish({ text: 'forbidden' }), (e: { code: number; message: string }) => e.code === 1001 && e.message === 'no');
    const call = backend.callsTo('/publish').find((x) => (x.body['data'] as Record<string, unknown>)['text'] === 'plain');
    assert.equal(call?.body['channel'], 'chat:pub');
    assert.equal(call?.body['user'], 'pub-a');
  });

  test('RPC proxy: data both ways; errors with the backend\'s code; a namespace without a proxy is 108', async () => {
    const c = client({ data: { user: 'rpc-user' } });
    await connected(c);
    const res = await c.rpc('echo', { q: [1, 2, 3] });
    assert.deepEqual(res.data, { got: { q: [1, 2, 3] }, user: 'rpc-user', method: 'echo' });
    await assert.rejects(c.rpc('fail', {}), (e: { code: number }) => e.code === 1002);
    await assert.rejects(c.rpc('local:x', {}), (e: { code: number }) => e.code === 108);
    await assert.rejects(c.rpc('nowhere:x', {}), (e: { code: number }) => e.code === 104);
  });

  test('sub refresh proxy: the server extends a subscription, then it expires (unsubscribe 2501)', async () => {
    const r = await raw();
    r.send({ id: 1, connect: { data: { user: 'timed' } } });
    await r.next((m) => m['id'] === 1);
    r.send({ id: 2, subscribe: { channel: 'timed:1' } });
    const reply = await r.next<{ subscribe: Record<string, unknown> }>((m) => m['id'] === 2);
    assert.equal(reply.subscribe['expires'], undefined, 'no client-side refresh asked');
    const push = await r.next<{ push: { unsubscribe: { code: number } } }>((m) => (m['push'] as Record<string, unknown> | undefined)?.['unsubscribe'] !== undefined, 10_000);
    assert.equal(push.push.unsubscribe.code, 2501);
    const calls = backend.callsTo('/sub_refresh').filter((x) => x.body['channel'] === 'timed:1');
    assert.equal(calls.length, 2);
  });

  test('a failed refresh / sub_refresh call keeps the connection and subscription, and asks again after refreshRetryMs', async () => {
    const r = await raw();
    r.send({ id: 1, connect: { data: { mode: 'retry' } } });
    const reply = await r.next<{ connect: Record<string, unknown> }>((m) => m['id'] === 1);
    const client = reply.connect['client'];
    r.send({ id: 2, subscribe: { channel: 'timed:retry' } });
    await r.next((m) => m['id'] === 2);
    // the subscription: the failed call (500) is followed by a second one, which ends it (2501)
    const push = await r.next<{ push: { channel: string; unsubscribe: { code: number } } }>((m) => (m['push'] as Record<string, unknown> | undefined)?.['unsubscribe'] !== undefined, 10_000);
    assert.deepEqual([push.push.channel, push.push.unsubscribe.code], ['timed:retry', 2501]);
    assert.equal(backend.callsTo('/sub_refresh').filter((x) => x.body['channel'] === 'timed:retry' && x.body['client'] === client).length, 2);
    // the connection: the same, closed with 3005 only by the second answer
    const closed = await r.waitClose(10_000);
    assert.equal(closed.code, 3005);
    assert.equal(backend.callsTo('/refresh').filter((x) => x.body['client'] === client).length, 2, 'the failed call did not end it; it was asked again');
    assert.ok(logger.lines.some((l) => l.level === 'warn' && l.msg === 'connection refresh failed: asking again later' && (l.obj as { client?: string }).client === client));
  });

  test('headers: allowed ones arrive, others never; a real header wins over an emulated one; static ones lose', async () => {
    const transportHeaders = { 'x-allowed': 'yes', 'x-secret': 'no' };
    class HeaderWs extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers: transportHeaders });
      }
    }
    const c = client({ websocket: HeaderWs, data: { user: 'h1' }, headers: { Authorization: 'Bearer emulated', 'X-Emulated': 'e', 'X-Other': 'no' } });
    const ctx = await connected(c);
    const call = backend.callsTo('/connect').find((x) => x.body['client'] === ctx.client)!;
    assert.equal(call.headers['x-allowed'], 'yes');
    assert.equal(call.headers['authorization'], 'Bearer emulated');
    assert.equal(call.headers['x-emulated'], 'e');
    assert.equal(call.headers['x-static'], 's');
    assert.equal(call.headers['x-secret'], undefined);
    assert.equal(call.headers['x-other'], undefined);
    assert.equal(call.headers['host'], `127.0.0.1:${backend.port}`, 'the client\'s Host is never forwarded, even when listed');

    Object.assign(transportHeaders, { authorization: 'Bearer real' });
    const c2 = client({ websocket: HeaderWs, data: { user: 'h2' }, headers: { Authorization: 'Bearer emulated' } });
    const ctx2 = await connected(c2);
    const call2 = backend.callsTo('/connect').find((x) => x.body['client'] === ctx2.client)!;
    assert.equal(call2.headers['authorization'], 'Bearer real');

    // Centrifugo 6.9: a header the client puts in its connect command is forwarded only when
    // listed in emulated_headers. x-allowed is listed in http_headers only: an emulated x-allowed
    // never arrives (the backend sees the static value, the lowest priority, not the forged one).
    class PlainWs extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers: {} });
      }
    }
    const c3 = client({ websocket: PlainWs, data: { user: 'h3' }, headers: { 'X-Allowed': 'forged', 'X-Emulated': 'e3' } });
    const ctx3 = await connected(c3);
    const call3 = backend.callsTo('/connect').find((x) => x.body['client'] === ctx3.client)!;
    assert.equal(call3.headers['x-emulated'], 'e3', 'the listed emulated header arrives');
    assert.equal(call3.headers['x-allowed'], 'static-loses', 'the emulated x-allowed was dropped');
  });

  test('connect result subs: server-side subscriptions with the backend\'s data, info and override', async () => {
    const c = client({ data: { mode: 'subs' } });
    const serverSide = once<{ channel: string; data?: unknown }>(c, 'subscribed');
    const ctx = await connected(c);
    const s = await serverSide;
    assert.equal(s.channel, 'news:s');
    assert.deepEqual(s.data, { hello: 'sub' });
    // news keeps no presence: the override tracks this subscription, with the backend's info
    const entry = (await srv.sb.presenceStore.get('news:s')).get(ctx.client);
    assert.equal(entry?.user, 'subs-user');
    assert.equal(entry?.chanInfo, '{"seat":1}');
  });

  test('a client with a token is decided by its token: the connect proxy is not asked', async () => {
    const c = client({ token: await token({ sub: 'tok-user' }) });
    const ctx = await connected(c);
    // the RPC proxy reports the user the connection has
    const res = await c.rpc('echo', {});
    assert.equal((res.data as { user: string }).user, 'tok-user');
    assert.equal(backend.callsTo('/connect').filter((x) => x.body['client'] === ctx.client).length, 0);
  });

  test('subscribe override: join_leave and force_push_join_leave turn join pushes on, force_recovery and force_positioning', async () => {
    const a = await raw();
    a.send({ id: 1, connect: { data: { user: 'jl-a' } } });
    await a.next((m) => m['id'] === 1);
    const b = await raw();
    b.send({ id: 1, connect: { data: { user: 'jl-b' } } });
    await b.next((m) => m['id'] === 1);
    const joinOf = (channel: string) => (m: Record<string, unknown>) => {
      const push = m['push'] as { channel?: string; join?: { info?: { user?: string } } } | undefined;
      return push?.channel === channel && push.join?.info?.user === 'jl-b';
    };
    // join_leave: the namespace has none; the override allows it for a client that asks
    a.send({ id: 2, subscribe: { channel: 'jl:asked', join_leave: true } });
    await a.next((m) => m['id'] === 2);
    b.send({ id: 2, subscribe: { channel: 'jl:asked' } });
    await b.next((m) => m['id'] === 2);
    await a.next(joinOf('jl:asked'));
    // force_push_join_leave: pushed although the client did not ask
    a.send({ id: 3, subscribe: { channel: 'jl:forced' } });
    await a.next((m) => m['id'] === 3);
    b.send({ id: 3, subscribe: { channel: 'jl:forced' } });
    await b.next((m) => m['id'] === 3);
    await a.next(joinOf('jl:forced'));
    // force_recovery / force_positioning: the namespace keeps history but allows neither
    a.send({ id: 4, subscribe: { channel: 'rec:recovery' } });
    const rec = await a.next<{ subscribe: Record<string, unknown> }>((m) => m['id'] === 4);
    assert.equal(rec.subscribe['recoverable'], true);
    assert.equal(rec.subscribe['positioned'], true);
    a.send({ id: 5, subscribe: { channel: 'rec:positioning' } });
    const pos = await a.next<{ subscribe: Record<string, unknown> }>((m) => m['id'] === 5);
    assert.equal(pos.subscribe['positioned'], true);
    assert.equal(pos.subscribe['recoverable'], undefined);
    // without an override the same namespace gives neither
    a.send({ id: 6, subscribe: { channel: 'rec:plain' } });
    const plain = await a.next<{ subscribe: Record<string, unknown> }>((m) => m['id'] === 6);
    assert.equal(plain.subscribe['positioned'], undefined);
    assert.equal(plain.subscribe['recoverable'], undefined);
  });

  test('a slow backend (past the timeout) and a dead one: 100 internal for that client, others unaffected, failures counted', async () => {
    const errorsBefore = (name: string) => proxyStats().find((s) => s.method === 'subscribe' && s.name === name)?.errors ?? 0;
    const slowBefore = errorsBefore('slow');
    const deadBefore = errorsBefore('dead');
    const r = await raw();
    r.send({ id: 1, connect: { data: { user: 'patient' } } });
    await r.next((m) => m['id'] === 1);
    r.send({ id: 2, subscribe: { channel: 'slow:1' } });
    r.send({ id: 3, subscribe: { channel: 'dead:1' } });
    // meanwhile another client works normally
    const other = client({ data: { user: 'other' } });
    await connected(other);
    const sub = other.newSubscription('open:1');
    sub.subscribe();
    await once(sub, 'subscribed');
    await sub.publish({ ok: true });
    const slow = await r.next<{ error: Record<string, unknown> }>((m) => m['id'] === 2);
    assert.deepEqual(slow.error, { code: 100, message: 'internal server error', temporary: true });
    const dead = await r.next<{ error: Record<string, unknown> }>((m) => m['id'] === 3);
    assert.equal(dead.error['code'], 100);
    assert.equal(r.closed, undefined, 'the connection stays');
    assert.equal(errorsBefore('slow'), slowBefore + 1);
    assert.equal(errorsBefore('dead'), deadBefore + 1);
    assert.ok(logger.lines.some((l) => l.level === 'warn' && (l.obj as { proxy?: string }).proxy === 'slow'));
  });

  test('malformed answers (not JSON, wrong types, bad base64, huge, HTTP 500) are errors to the client, logged, never a crash', async () => {
    const r = await raw();
    r.send({ id: 1, connect: { data: { user: 'bad' } } });
    await r.next((m) => m['id'] === 1);
    const channels = ['bad:notjson', 'bad:types', 'bad:b64', 'bad:huge', 'bad:status'];
    channels.forEach((ch, i) => r.send({ id: 10 + i, subscribe: { channel: ch } }));
    for (let i = 0; i < channels.length; i++) {
      const reply = await r.next<{ error?: { code: number } }>((m) => m['id'] === 10 + i);
      assert.equal(reply.error?.code, 100, `${channels[i]} gives 100`);
    }
    const warned = logger.lines.filter((l) => l.level === 'warn' && (l.obj as { proxy?: string }).proxy === 'bad');
    assert.ok(warned.length >= channels.length);
    assert.ok(warned.some((l) => String((l.obj as { err?: Error }).err?.message).includes('expire_at must be an integer')));
    // the server still serves
    r.send({ id: 99, subscribe: { channel: 'news:2' } });
    assert.ok((await r.next<{ subscribe?: unknown }>((m) => m['id'] === 99)).subscribe);
  });
  test('plain JSON clients go through the same proxies: subscribe, publish, RPC (action)', async () => {
    const url = srv.url.replace('/connection/websocket', '/ws');
    const r = new RawClient(url);
    raws.push(r);
    const hello = await r.next<{ user: string }>((m) => m['type'] === 'connected');
    assert.equal(hello.user, '56');
    r.send({ type: 'subscribe', channel: 'chat:plain', id: 1 });
    const first = await r.next((m) => m['id'] === 1);
    assert.equal(first['type'], 'subscribed');
    assert.ok(backend.callsTo('/subscribe').some((x) => x.body['channel'] === 'chat:plain' && x.body['user'] === '56'));
    r.send({ type: 'subscribe', channel: 'chat:deny', id: 2 });
    const refused = await r.next((m) => m['id'] === 2);
    assert.equal(refused['type'], 'error');
    assert.equal(refused['code'], 403);
    assert.equal(refused['message'], 'not allowed');
    r.send({ type: 'publish', channel: 'chat:plain', data: { text: 'rewrite' }, id: 3 });
    const pub = await r.next((m) => m['channel'] === 'chat:plain' && m['type'] === 'publication');
    assert.deepEqual(pub['data'], { text: 'rewritten' });
    r.send({ action: 'echo', data: { n: 1 }, id: 4 });
    const reply = await r.next((m) => m['id'] === 4);
    assert.deepEqual(reply['data'], { got: { n: 1 }, user: '56', method: 'echo' });
  });

  test('binary_encoding: data travels as base64 both ways, encoding "binary"', async () => {
    const c = client({ data: { user: 'bin' } });
    await connected(c);
    const res = await c.rpc('bin:x', { q: 'é' });
    assert.deepEqual(res.data, { decoded: { q: 'é' } });
    const call = backend.callsTo('/bin').at(-1)!;
    assert.equal(call.body['encoding'], 'binary');
    assert.equal(call.body['data'], undefined);
    assert.equal(typeof call.body['b64data'], 'string');
  });

  test('status_to_code_transforms: a backend\'s HTTP status becomes the configured error or disconnect', async () => {
    const r = await raw();
    r.send({ id: 1, connect: { data: { user: 'mapped' } } });
    await r.next((m) => m['id'] === 1);
    r.send({ id: 2, subscribe: { channel: 'mapped:x' } });
    assert.deepEqual((await r.next((m) => m['id'] === 2))['error'], { code: 1403, message: 'forbidden by status' });
    r.send({ id: 3, subscribe: { channel: 'mapped:gone' } });
    const closed = await r.waitClose();
    assert.deepEqual(closed, { code: 4404, reason: 'gone' });
  });
});
