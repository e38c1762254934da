import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientIdOf, Disconnects } from '../src/index.js';
import { RawClient, until } from './helpers.js';
import { APP, connectedOf, next, pusherClient, startPusher, type PusherClient } from './pusher-helpers.js';

type Frame = Record<string, unknown>;
// pusher-js reports a pusher:error frame as `{type:'PusherError', data}` and a close as `{type:'WebSocketError', error:{data}}`.
type ConnError = { data?: { code?: number }; error?: { data?: { code?: number } } };
const codeOf = (m: Frame) => (m['data'] as { code: number | null }).code;

/** What a pusher-js client went through: its connection errors' codes, its retries scheduled, its states. */
function watch(c: PusherClient): { codes: (number | undefined)[]; retries: number; states: string[] } {
  const seen = { codes: [] as (number | undefined)[], retries: 0, states: [] as string[] };
  c.connection.bind('error', (e: ConnError) => seen.codes.push(e.error?.data?.code ?? e.data?.code));
  c.connection.bind('connecting_in', () => seen.retries++);
  c.connection.bind('state_change', (s: { current: string }) => seen.states.push(s.current));
  return seen;
}

test('pusher: the node refuses over capacity and from a disallowed origin after the upgrade, in Pusher terms (4100 backs off and retries, 4009 stops)', { timeout: 30_000 }, async () => {
  const srv = await startPusher({ limits: { maxConnections: 1 }, allowedOrigins: ['http://good.example'] });
  const a = pusherClient(srv, { user: 'alice' });
  let b: PusherClient | undefined;
  const raws: RawClient[] = [];
  try {
    await connectedOf(a);
    // Full: a raw client sees Pusher's frame and close code, not an HTTP 503.
    const full = new RawClient(`ws://127.0.0.1:${srv.port}/app/${APP.key}?protocol=7`);
    raws.push(full);
    await full.opened;
    const e = await full.next((m) => m['event'] === 'pusher:error');
    assert.equal(codeOf(e), 4100);
    assert.match((e['data'] as { message: string }).message, /connection limit/);
    assert.equal((await full.waitClose()).code, 4100);
    // pusher-js is told 4100, backs off and tries again: it connects once there is room.
    b = pusherClient(srv, { user: 'bob' });
    const seen = watch(b);
    await until(() => seen.codes.includes(4100), 5000, 'b told 4100');
    await until(() => seen.retries > 0, 5000, 'b schedules a retry');
    a.disconnect();
    // (A retry that lands before a's leave is told 4100 again and backs off once more.)
    await until(() => b!.connection.state === 'connected', 15_000, 'b connected once there is room');
    // A disallowed origin: 4009 frame and close, which pusher-js does not retry.
    b.disconnect();
    await until(() => srv.mount.stats()[0]!.connections === 0, 5000, 'b gone');
    const evil = new RawClient(`ws://127.0.0.1:${srv.port}/app/${APP.key}?protocol=7`, { origin: 'http://evil.example' });
    raws.push(evil);
    await evil.opened;
    assert.equal(codeOf(await evil.next((m) => m['event'] === 'pusher:error')), 4009);
    assert.equal((await evil.waitClose()).code, 4009);
    // The same node still serves an allowed origin (and a client sending none, as the node build does).
    const good = new RawClient(`ws://127.0.0.1:${srv.port}/app/${APP.key}?protocol=7`, { origin: 'http://good.example' });
    raws.push(good);
    await good.next((m) => m['event'] === 'pusher:connection_established');
  } finally {
    for (const r of raws) r.close();
    a.disconnect();
    b?.disconnect();
    await srv.close();
  }
});

test('pusher: core disconnects reach pusher-js in Pusher codes: force disconnect is terminal (4009), a reconnectable one backs off (4100)', { timeout: 30_000 }, async () => {
  const srv = await startPusher();
  const terminal = pusherClient(srv, { user: 'alice' });
  const control = pusherClient(srv, { user: 'bob' });
  try {
    await Promise.all([connectedOf(terminal), connectedOf(control)]);
    const t = watch(terminal);
    const c = watch(control);
    const before = srv.mount.stats()[0]!.connectionsTotal;
    // The core's 3503 force disconnect: pusher-js hears 4009 (with the pusher:error frame) and stops.
    await srv.sb.disconnectUser({ client: clientIdOf(terminal.connection.socket_id) });
    await until(() => terminal.connection.state === 'disconnected', 5000, 'terminal disconnected');
    assert.ok(t.codes.length > 0 && t.codes.every((code) => code === 4009), `codes ${t.codes.join()}`);
    // A reconnectable core code (3005 connection expired) closed second: 4100, pusher-js retries after its 1 s back-off.
    // Once that retry has connected, the terminal client would have retried too had it been going to.
    await srv.sb.disconnectUser({ client: clientIdOf(control.connection.socket_id) }, Disconnects.expired);
    await until(() => c.codes.includes(4100), 5000, 'control told 4100');
    await until(() => c.states.includes('connected'), 10_000, 'control reconnected');
    const ch = control.subscribe('news');
    await next((cb) => ch.bind('pusher:subscription_succeeded', cb), 5000, 'control subscribed');
    assert.ok(c.retries > 0);
    assert.equal(t.retries, 0);
    assert.deepEqual(t.states, ['disconnected']);
    assert.equal(terminal.connection.state, 'disconnected');
    assert.equal(srv.mount.stats()[0]!.connectionsTotal, before + 1); // the control's reconnection only
    // The node's shutdown (3001) is 4100 too: come back after a back-off, never 4200's immediate loop.
    // (The client is stopped as soon as it is told: its retries against a node gone would outlive the test.)
    const told = next<number | undefined>(
      (cb) =>
        control.connection.bind('error', (e: ConnError) => {
          control.disconnect();
          cb(e.error?.data?.code ?? e.data?.code);
        }),
      5000,
      'control told on shutdown',
    );
    await srv.sb.shutdown({ timeoutMs: 2000 });
    assert.equal(await told, 4100);
  } finally {
    terminal.disconnect();
    control.disconnect();
    await srv.close();
  }
});

test('pusher: the core\'s per-user connection limit (3504) is 4004, which pusher-js does not retry', { timeout: 20_000 }, async () => {
  const srv = await startPusher();
  const c = pusherClient(srv, { user: 'alice' });
  try {
    await connectedOf(c);
    const seen = watch(c);
    await srv.sb.disconnectUser({ client: clientIdOf(c.connection.socket_id) }, Disconnects.connectionLimit);
    await until(() => c.connection.state === 'disconnected', 5000, 'disconnected');
    assert.ok(seen.codes.length > 0 && seen.codes.every((code) => code === 4004), `codes ${seen.codes.join()}`);
    assert.equal(seen.retries, 0);
  } finally {
    c.disconnect();
    await srv.close();
  }
});

test('pusher: over the node\'s connect rate, a Pusher upgrade is told 4100 after the upgrade, not an HTTP 503', { timeout: 20_000 }, async () => {
  const srv = await startPusher({ limits: { maxConnectsPerSecond: 1 } });
  const raws = Array.from({ length: 5 }, () => new RawClient(`ws://127.0.0.1:${srv.port}/app/${APP.key}?protocol=7`));
  try {
    // Every upgrade completes (an HTTP refusal would reject `opened`); each client is either served or told 4100.
    await Promise.all(raws.map((r) => r.opened));
    const outcomes = await Promise.all(raws.map((r) => r.next((m) => m['event'] === 'pusher:connection_established' || m['event'] === 'pusher:error')));
    const refused = raws.filter((_, i) => outcomes[i]!['event'] === 'pusher:error');
    assert.ok(refused.length >= 1 && refused.length < raws.length, `${refused.length} of ${raws.length} refused`);
    for (const [i, o] of outcomes.entries()) {
      if (o['event'] !== 'pusher:error') continue;
      assert.deepEqual(o['data'], { code: 4100, message: 'connect rate limit' });
      assert.equal((await raws[i]!.waitClose()).code, 4100);
    }
  } finally {
    for (const r of raws) r.close();
    await srv.close();
  }
});
