// The SDK against a real Switchboard (real WebSocket connections on 127.0.0.1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, token, until, SECRET, type TestServer } from '../../server/test/helpers.js';
import { createRealtime, RealtimeManager, RealtimeError, UnauthorizedError, Channels, type Realtime, type ConnectionState, type ResyncEvent } from '@switchboard/client';

const FAST = { minReconnectDelay: 20, maxReconnectDelay: 200, timeout: 3000 } as const;

const namespaces = {
  chat: { allowSubscribeForClient: true, presence: true },
  feed: { allowSubscribeForClient: true, presence: true, historySize: 100, historyTtlMs: 60_000, forceRecovery: true },
  short: { allowSubscribeForClient: true, historySize: 3, historyTtlMs: 60_000, forceRecovery: true },
  trpc: { allowSubscribeForClient: true, presence: true, historySize: 10, historyTtlMs: 60_000, forceRecovery: true },
};

function collect(rt: Realtime<any>): { errors: RealtimeError[]; states: ConnectionState[]; resyncs: ResyncEvent[]; connected: number } {
  const out = { errors: [] as RealtimeError[], states: [] as ConnectionState[], resyncs: [] as ResyncEvent[], connected: 0 };
  rt.on('error', (e) => out.errors.push(e));
  rt.on('state', (s) => out.states.push(s));
  rt.on('resync', (e) => out.resyncs.push(e));
  rt.on('connected', () => out.connected++);
  return out;
}

/** Holds connect commands until `open()`: lets a test publish while the client is known to be away. */
function gate(srv: TestServer) {
  let release: (() => void) | undefined;
  let closed: Promise<void> | undefined;
  srv.sb.onConnecting(async () => {
    if (closed) await closed;
  });
  return {
    close() {
      closed = new Promise((r) => (release = r));
    },
    open() {
      closed = undefined;
      release?.();
    },
  };
}

function dropAll(srv: TestServer): void {
  for (const c of [...srv.sb.liveConnections()]) c.transport.terminate();
}

/**
 * A positive event instead of a fixed sleep for "no further attempts": a reference client with a
 * fixed 200 ms backoff (FAST's maximum) on a server of its own has its connection dropped twice and
 * reconnects each time. A FAST client's retry, due at most 200 ms after the moment this starts,
 * would have reached its server by then.
 */
async function twoReconnectsLater(): Promise<void> {
  const ref = await startServer({ namespaces });
  const rt = createRealtime({ url: ref.url, getToken: () => token({ sub: 'reference' }), minReconnectDelay: 200, maxReconnectDelay: 200, timeout: 3000 });
  const ev = collect(rt);
  try {
    rt.subscribe('chat:reference', () => {});
    await until(() => ev.connected === 1, 5000, 'the reference client to connect');
    for (let n = 2; n <= 3; n++) {
      dropAll(ref);
      await until(() => ev.connected === n, 5000, `the reference client's reconnect ${n - 1}`);
    }
  } finally {
    rt.close();
    await ref.close();
  }
}

test('connects lazily on the first subscription; two handlers share one server subscription, gone after both unsubscribe', async () => {
  const srv = await startServer({ namespaces });
  const rt = createRealtime({ url: srv.url, getToken: () => token({ sub: '42' }), ...FAST });
  const ev = collect(rt);
  try {
    assert.equal(rt.getState(), 'disconnected');
    assert.equal(srv.sb.counts().connections, 0, 'no connection before the first subscription');
    const a: unknown[] = [];
    const b: unknown[] = [];
    const offA = rt.subscribe('chat:room', (m) => a.push(m));
    const offB = rt.subscribe('chat:room', (m) => b.push(m));
    await until(() => rt.getState() === 'connected' && srv.sb.counts().subscriptions === 1, 5000, 'subscribed');
    assert.equal(srv.sb.counts().connections, 1);
    assert.equal((await srv.sb.presenceStats('chat:room')).numClients, 1);
    assert.equal(rt.listenerCount('chat:room'), 2);
    await srv.sb.publish('chat:room', { n: 1 });
    await until(() => a.length === 1 && b.length === 1, 5000, 'both handlers got the message');
    assert.deepEqual(a, [{ n: 1 }]);
    offA();
    offA(); // idempotent
    // A later subscribe from the same client marks the end of the window: an unsubscribe from the
    // deferred teardown (one macrotask) would reach the server before it, in order.
    await new Promise((r) => setTimeout(r, 0));
    const offProbe = rt.subscribe('chat:probe', () => {});
    await until(async () => (await srv.sb.presenceStats('chat:probe')).numClients === 1, 5000, 'the later subscription');
    assert.equal(srv.sb.counts().subscriptions, 2, 'one handler left: still subscribed');
    offProbe();
    await srv.sb.publish('chat:room', { n: 2 });
    await until(() => b.length === 2, 5000, 'the remaining handler still receives');
    assert.equal(a.length, 1);
    offB();
    await until(() => srv.sb.counts().subscriptions === 0, 5000, 'server subscription gone');
    assert.equal((await srv.sb.presenceStats('chat:room')).numClients, 0);
    assert.deepEqual(rt.channels(), []);
    // Subscribing again makes a fresh server subscription.
    const c: unknown[] = [];
    const offC = rt.subscribe('chat:room', (m) => c.push(m));
    await until(() => srv.sb.counts().subscriptions === 1, 5000, 'resubscribed');
    await srv.sb.publish('chat:room', { n: 3 });
    await until(() => c.length === 1, 5000, 'message after resubscribe');
    offC();
    assert.deepEqual(ev.errors, []);
    assert.deepEqual(ev.states.slice(0, 2), ['connecting', 'connected']);
  } finally {
    rt.close();
    await srv.close();
  }
});

test('unsubscribe then subscribe in the same tick keeps the server subscription (Strict Mode double effects)', async () => {
  const srv = await startServer({ namespaces });
  let subscribes = 0;
  srv.sb.on('subscribe', (_client, channel) => {
    if (channel === 'chat:x') subscribes++;
  });
  const rt = createRealtime({ url: srv.url, getToken: () => token({ sub: '1' }), ...FAST });
  try {
    const got: unknown[] = [];
    const off1 = rt.subscribe('chat:x', (m) => got.push(m));
    await until(() => srv.sb.counts().subscriptions === 1, 5000, 'subscribed');
    off1();
    const off2 = rt.subscribe('chat:x', (m) => got.push(m));
    // a later subscribe from the same client marks the end of the window (see the test above)
    await new Promise((r) => setTimeout(r, 0));
    const offProbe = rt.subscribe('chat:probe', () => {});
    await until(async () => (await srv.sb.presenceStats('chat:probe')).numClients === 1, 5000, 'the later subscription');
    offProbe();
    assert.equal(subscribes, 1, 'no second server subscribe');
    await srv.sb.publish('chat:x', 'hello');
    await until(() => got.length === 1, 5000, 'message');
    off2();
    await until(() => srv.sb.counts().subscriptions === 0, 5000, 'unsubscribed');
  } finally {
    rt.close();
    await srv.close();
  }
});

test('short-lived tokens are refreshed through getToken without reconnecting', async () => {
  const srv = await startServer({ namespaces });
  let calls = 0;
  const rt = createRealtime({
    url: srv.url,
    getToken: async () => {
      calls++;
      return token({ sub: '7' }, { expiresIn: 2 });
    },
    ...FAST,
  });
  const ev = collect(rt);
  try {
    const got: unknown[] = [];
    rt.subscribe('chat:r', (m) => got.push(m));
    await until(() => srv.sb.counts().subscriptions === 1, 5000, 'subscribed');
    const conn = [...srv.sb.liveConnections()][0]!;
    const firstExpiry = conn.expireAt;
    assert.ok(firstExpiry > 0, 'the connection has an expiry from the token');
    await until(() => calls >= 3, 12_000, 'two refreshes');
    await until(() => conn.expireAt > firstExpiry, 3000, 'the server took the refreshed expiry');
    assert.equal(ev.connected, 1, 'no reconnect');
    assert.equal(srv.sb.liveConnection(conn.id), conn, 'same connection');
    await srv.sb.publish('chat:r', 'still here');
    await until(() => got.length === 1, 5000, 'message after refresh');
    assert.deepEqual(ev.errors, []);
  } finally {
    rt.close();
    await srv.close();
  }
});

test('an expired token at connect makes the client fetch a new one and connect', async () => {
  const srv = await startServer({ namespaces });
  let calls = 0;
  const rt = createRealtime({
    url: srv.url,
    getToken: async () => (++calls === 1 ? token({ sub: '7' }, { expiresIn: -60 }) : token({ sub: '7' }, { expiresIn: 3600 })),
    ...FAST,
  });
  try {
    rt.subscribe('chat:r', () => {});
    await until(() => rt.getState() === 'connected', 5000, 'connected');
    assert.equal(calls, 2);
  } finally {
    rt.close();
    await srv.close();
  }
});

test('a refused token surfaces as a typed unauthorized error, without a reconnect storm', async () => {
  const srv = await startServer({ namespaces });
  let upgrades = 0;
  srv.http.prependListener('upgrade', () => upgrades++);
  let calls = 0;
  const rt = createRealtime({
    url: srv.url,
    getToken: async () => {
      calls++;
      return token({ sub: '9' }, { secret: 'not-the-server-secret-not-the-server' });
    },
    ...FAST,
  });
  const ev = collect(rt);
  try {
    const errors: RealtimeError[] = [];
    rt.subscribe('chat:r', () => {}, { onError: (e) => errors.push(e) });
    await until(() => ev.errors.some((e) => e.kind === 'unauthorized'), 5000, 'unauthorized error');
    const err = ev.errors.find((e) => e.kind === 'unauthorized')!;
    assert.ok(err instanceof RealtimeError);
    assert.equal(err.code, 3500);
    assert.equal(rt.getState(), 'disconnected');
    // A storm with a 20..200 ms backoff would show further attempts before this positive event.
    await twoReconnectsLater();
    assert.equal(upgrades, 1, 'exactly one connection attempt');
    assert.equal(calls, 1, 'getToken called once');
    assert.equal(ev.errors.filter((e) => e.kind === 'unauthorized').length, 1, 'reported once');
  } finally {
    rt.close();
    await srv.close();
  }
});

test('getToken refusing (UnauthorizedError) or failing repeatedly stops with typed errors', async () => {
  const srv = await startServer({ namespaces });
  let upgrades = 0;
  srv.http.prependListener('upgrade', () => upgrades++);
  const refused = createRealtime({
    url: srv.url,
    getToken: async () => {
      throw new UnauthorizedError('logged out');
    },
    ...FAST,
  });
  let failing = 0;
  const flaky = createRealtime({
    url: srv.url,
    maxTokenFailures: 3,
    getToken: async () => {
      failing++;
      throw new Error('backend down');
    },
    ...FAST,
  });
  const e1 = collect(refused);
  const e2 = collect(flaky);
  try {
    refused.subscribe('chat:r', () => {});
    flaky.subscribe('chat:r', () => {});
    await until(() => refused.getState() === 'disconnected' && e1.errors.length > 0, 5000, 'refused');
    assert.deepEqual(
      e1.errors.map((e) => e.kind),
      ['unauthorized'],
    );
    await until(() => flaky.getState() === 'disconnected' && failing === 3 && e2.errors.length === 3, 10_000, 'flaky gave up');
    assert.deepEqual(
      e2.errors.map((e) => e.kind),
      ['token', 'token', 'token'],
    );
    assert.match(e2.errors[2]!.message, /giving up/);
    assert.ok(e2.errors[0]!.cause instanceof Error);
    await twoReconnectsLater();
    assert.equal(failing, 3, 'no further attempts');
    assert.equal(upgrades, 0, 'no WebSocket opened without a token');
  } finally {
    refused.close();
    flaky.close();
    await srv.close();
  }
});

test('a dropped connection reconnects, recovers and delivers the missed messages in order', async () => {
  const srv = await startServer({ namespaces });
  const g = gate(srv);
  const rt = createRealtime({ url: srv.url, getToken: () => token({ sub: '5' }), ...FAST });
  const ev = collect(rt);
  const subscribed: { recovered: boolean; wasRecovering: boolean }[] = [];
  rt.on('subscribed', (s) => subscribed.push(s));
  try {
    const got: number[] = [];
    rt.subscribe('feed:news', (m: any) => got.push(m.n));
    await until(() => subscribed.length === 1, 5000, 'subscribed');
    await srv.sb.publish('feed:news', { n: 1 });
    await until(() => got.length === 1, 5000, 'first message');
    g.close();
    dropAll(srv);
    await until(() => rt.getState() === 'connecting', 5000, 'client noticed the drop');
    for (let n = 2; n <= 20; n++) await srv.sb.publish('feed:news', { n });
    g.open();
    await until(() => subscribed.length === 2, 8000, 'resubscribed');
    await until(() => got.length === 20, 5000, 'all missed messages');
    await srv.sb.publish('feed:news', { n: 21 });
    await until(() => got.length === 21, 5000, 'live again');
    assert.deepEqual(got, Array.from({ length: 21 }, (_, i) => i + 1));
    assert.deepEqual(subscribed[1], { channel: 'feed:news', recovered: true, wasRecovering: true });
    assert.deepEqual(ev.resyncs, [], 'recovered: no resync');
    assert.equal(ev.connected, 2);
  } finally {
    g.open();
    rt.close();
    await srv.close();
  }
});

test('a trimmed history yields a resync event (and a channel without history too)', async () => {
  const srv = await startServer({ namespaces });
  const g = gate(srv);
  const rt = createRealtime({ url: srv.url, getToken: () => token({ sub: '5' }), ...FAST });
  const ev = collect(rt);
  const perSub: ResyncEvent[] = [];
  try {
    const got: number[] = [];
    rt.subscribe('short:s', (m: any) => got.push(m.n), { onResync: (e) => perSub.push(e) });
    rt.subscribe('chat:nohistory', () => {});
    await until(() => srv.sb.counts().subscriptions === 2, 5000, 'subscribed');
    await srv.sb.publish('short:s', { n: 1 });
    await until(() => got.length === 1, 5000, 'first');
    g.close();
    dropAll(srv);
    await until(() => rt.getState() === 'connecting', 5000, 'dropped');
    for (let n = 2; n <= 10; n++) await srv.sb.publish('short:s', { n }); // history keeps 3: 2..7 are gone
    g.open();
    await until(() => ev.resyncs.length === 2, 8000, 'two resyncs');
    const byChannel = Object.fromEntries(ev.resyncs.map((e) => [e.channel, e.reason]));
    assert.deepEqual(byChannel, { 'short:s': 'unrecovered', 'chat:nohistory': 'not-recoverable' });
    assert.deepEqual(perSub, [{ channel: 'short:s', reason: 'unrecovered' }]);
    await srv.sb.publish('short:s', { n: 11 });
    await until(() => got.includes(11), 5000, 'live after resync');
    assert.ok(!got.includes(2), 'nothing half-recovered');
  } finally {
    g.open();
    rt.close();
    await srv.close();
  }
});

test('a throwing handler is reported as a handler error and does not kill the connection', async () => {
  const srv = await startServer({ namespaces });
  const rt = createRealtime({ url: srv.url, getToken: () => token({ sub: '5' }), ...FAST });
  const ev = collect(rt);
  try {
    const got: unknown[] = [];
    rt.subscribe('chat:t', () => {
      throw new Error('app bug');
    });
    rt.subscribe('chat:t', (m) => got.push(m));
    await until(() => srv.sb.counts().subscriptions === 1, 5000, 'subscribed');
    await srv.sb.publish('chat:t', 1);
    await srv.sb.publish('chat:t', 2);
    await until(() => got.length === 2, 5000, 'other handler got both');
    assert.equal(ev.errors.length, 2);
    assert.equal(ev.errors[0]!.kind, 'handler');
    assert.equal(ev.errors[0]!.channel, 'chat:t');
    assert.equal(rt.getState(), 'connected');
    assert.equal(ev.connected, 1);
  } finally {
    rt.close();
    await srv.close();
  }
});

test('a refused subscription is a typed subscribe error with the server code', async () => {
  const srv = await startServer({ namespaces: { ...namespaces, locked: {} } });
  const rt = createRealtime({ url: srv.url, getToken: () => token({ sub: '5' }), ...FAST });
  try {
    const errs: RealtimeError[] = [];
    rt.subscribe('locked:x', () => {}, { onError: (e) => errs.push(e) });
    await until(() => errs.length > 0, 5000, 'error');
    assert.equal(errs[0]!.kind, 'subscribe');
    assert.equal(errs[0]!.code, 103);
    assert.equal(errs[0]!.channel, 'locked:x');
    // A later subscriber of the same channel makes a new attempt (and hears the refusal itself).
    const again: RealtimeError[] = [];
    rt.subscribe('locked:x', () => {}, { onError: (e) => again.push(e) });
    await until(() => again.length > 0, 5000, 'second refusal');
    assert.equal(again[0]!.code, 103);
    assert.throws(() => rt.subscribe('', () => {}), (e: unknown) => e instanceof RealtimeError && e.kind === 'usage');
  } finally {
    rt.close();
    await srv.close();
  }
  assert.throws(() => rt.subscribe('chat:x', () => {}), (e: unknown) => e instanceof RealtimeError && e.kind === 'usage');
});

test('RealtimeManager: initialize / getInstance, seed style, with typed channel builders', async () => {
  const srv = await startServer({ namespaces });
  assert.throws(() => RealtimeManager.getInstance(), (e: unknown) => e instanceof RealtimeError && e.kind === 'usage');
  RealtimeManager.initialize({ wsUrl: srv.url, getToken: async () => token({ sub: '123' }), ...FAST });
  try {
    const manager = RealtimeManager.getInstance();
    assert.equal(manager.getState(), 'disconnected');
    const got: unknown[] = [];
    const unsubscribe = manager.subscribe(Channels.user(123), (message) => got.push(message));
    await until(() => srv.sb.counts().subscriptions === 1, 5000, 'subscribed');
    await srv.sb.publish('trpc:user:123', { type: 'query-invalidation', queryKey: ['user', 'notifications'] });
    await until(() => got.length === 1, 5000, 'message');
    unsubscribe();
    await until(() => srv.sb.counts().subscriptions === 0, 5000, 'unsubscribed');
    assert.equal(Channels.global(), 'trpc:global');
    assert.equal(Channels.org('acme'), 'trpc:org:acme');
    assert.throws(() => Channels.user('a b'), TypeError);
  } finally {
    RealtimeManager.reset();
    await srv.close();
  }
  void SECRET;
});

test('server-side subscriptions (the token `channels` claim) deliver through serverPublication', async () => {
  const srv = await startServer({ namespaces });
  const rt = createRealtime({ url: srv.url, getToken: () => token({ sub: '8', channels: ['chat:pushed'] }), ...FAST });
  try {
    const got: { channel: string; data: unknown }[] = [];
    rt.on('serverPublication', ({ channel, data }) => got.push({ channel, data }));
    const subscribed: string[] = [];
    rt.on('subscribed', (e) => subscribed.push(e.channel));
    await rt.ready(5000);
    await until(() => subscribed.includes('chat:pushed'), 5000, 'server-side subscribed');
    await srv.sb.publish('chat:pushed', { hi: 1 });
    await until(() => got.length === 1, 5000, 'server-side publication');
    assert.deepEqual(got, [{ channel: 'chat:pushed', data: { hi: 1 } }]);
  } finally {
    rt.close();
    await srv.close();
  }
});

test('shareConnection is off in Node: the instance keeps its own connection', async () => {
  const srv = await startServer({ namespaces });
  const rt = createRealtime({ url: srv.url, getToken: () => token({ sub: '1' }), shareConnection: true, ...FAST });
  try {
    assert.equal(rt.role, 'own');
    const got: unknown[] = [];
    rt.subscribe('chat:node', (m) => got.push(m));
    await until(() => srv.sb.counts().subscriptions === 1, 5000, 'subscribed');
    await srv.sb.publish('chat:node', 1);
    await until(() => got.length === 1, 5000, 'delivered');
    assert.ok(rt.centrifuge, 'the connection is here');
  } finally {
    rt.close();
    await srv.close();
  }
});
