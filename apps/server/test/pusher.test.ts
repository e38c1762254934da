import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import PusherServer from 'pusher';
import WebSocket from 'ws';
import { api, runCli, sdk, signToken, startServerProcess, testConfig, until, writeConfig, type ServerProcess } from './helpers.js';

// The standalone server with a `pusher` block: pusher-js at /app/{key}, the Pusher HTTP API at
// /apps/{id}/, each app's channels under its own namespace, shared with the other protocols.

const require = createRequire(import.meta.url);
const PusherJs = require('pusher-js') as typeof import('pusher-js').default;
type PusherClient = InstanceType<typeof PusherJs>;

let srv: ServerProcess;
const A = { app_id: '1', key: 'key-a', secret: 'secret-a', namespace: 'pusher', enable_client_messages: true };
const B = { app_id: '2', key: 'key-b', secret: 'secret-b', namespace: 'other' };
const C = { app_id: '3', key: 'key-c', secret: 'secret-c', namespace: 'third', activity_timeout: 1, pong_timeout: 1, webhook_leave_delay: '0s' };

before(async () => {
  const config = testConfig({ pusher: { apps: [A, B, C] } });
  const channel = config['channel'] as { namespaces: Record<string, unknown>[] };
  channel.namespaces.push({ name: 'pusher', allow_subscribe_for_client: true });
  srv = await startServerProcess(writeConfig(config));
});
after(async () => {
  await srv?.stop();
});

function client(key: string): PusherClient {
  return new PusherJs(key, { cluster: 'mt1', wsHost: '127.0.0.1', wsPort: srv.port, forceTLS: false, enabledTransports: ['ws'] });
}

function wait<T>(bind: (cb: (v: T) => void) => void, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 10_000);
    bind((v) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}

test('standalone: pusher-js, the pusher library, the native API and the centrifuge SDK on one app; apps isolated', { timeout: 60_000 }, async () => {
  const a = client(A.key);
  const b = client(B.key);
  const cent = sdk(srv.wsUrl, { token: await signToken('cent') });
  try {
    const [ca, cb] = [a.subscribe('news'), b.subscribe('news')];
    await Promise.all([wait((f) => ca.bind('pusher:subscription_succeeded', f), 'a subscribed'), wait((f) => cb.bind('pusher:subscription_succeeded', f), 'b subscribed')]);
    let leaked = false;
    cb.bind('shipped', () => (leaked = true));
    const lib = new PusherServer({ appId: A.app_id, key: A.key, secret: A.secret, host: '127.0.0.1', port: String(srv.port), useTLS: false });
    const got = wait<unknown>((f) => ca.bind('shipped', f), 'shipped');
    await lib.trigger('news', 'shipped', { id: 1 });
    assert.deepEqual(await got, { id: 1 });
    // The native HTTP API publishes on the namespaced channel; app B's "news" is another channel.
    const native = wait<unknown>((f) => ca.bind('native', f), 'native');
    const r = await api(srv.base, 'publish', { channel: 'pusher:news', data: { event: 'native', payload: { ok: true } } });
    assert.equal(r.status, 200);
    assert.deepEqual(await native, { ok: true });
    const bOwn = wait<unknown>((f) => cb.bind('own', f), 'b own');
    await new PusherServer({ appId: B.app_id, key: B.key, secret: B.secret, host: '127.0.0.1', port: String(srv.port), useTLS: false }).trigger('news', 'own', {});
    await bOwn;
    assert.equal(leaked, false);
    // A centrifuge SDK client on pusher:news sees the Pusher app's events.
    const sub = cent.newSubscription('pusher:news');
    const pub = wait<{ data: unknown }>((f) => sub.on('publication', f), 'centrifuge publication');
    sub.subscribe();
    cent.connect();
    await wait((f) => sub.on('subscribed', f as never), 'centrifuge subscribed');
    await lib.trigger('news', 'to-everyone', 'hi');
    assert.deepEqual((await pub).data, { event: 'to-everyone', payload: 'hi' });
    // A wrong app secret is refused by the standalone HTTP API.
    await assert.rejects(new PusherServer({ appId: A.app_id, key: A.key, secret: 'nope', host: '127.0.0.1', port: String(srv.port), useTLS: false }).trigger('news', 'x', {}), (e: { status?: number }) => e.status === 401);
    // An unknown key: 4001, no retry.
    const bad = client('unknown');
    const err = await wait<{ error?: { data?: { code?: number } } }>((f) => bad.connection.bind('error', f), 'error');
    assert.equal(err.error?.data?.code, 4001);
    await until(() => bad.connection.state === 'disconnected', 10_000, 'disconnected');
    bad.disconnect();
  } finally {
    a.disconnect();
    b.disconnect();
    cent.disconnect();
  }
});

test('standalone: activity_timeout and pong_timeout per app: announced; a client that stops answering gets pusher:error 4201 and close 4201', { timeout: 60_000 }, async () => {
  const frames = (key: string) => {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/app/${key}?protocol=7`);
    const seen: Record<string, unknown>[] = [];
    ws.on('message', (d: Buffer) => seen.push(JSON.parse(d.toString()) as Record<string, unknown>));
    const closed = new Promise<number>((resolve) => ws.on('close', (code: number) => resolve(code)));
    const first = async (event: string) => {
      await until(() => seen.some((m) => m['event'] === event), 10_000, event);
      return seen.find((m) => m['event'] === event)!;
    };
    return { ws, seen, closed, first };
  };
  const c = frames(C.key);
  const a = frames(A.key);
  try {
    const timeoutOf = async (f: ReturnType<typeof frames>) => (JSON.parse((await f.first('pusher:connection_established'))['data'] as string) as { activity_timeout: number }).activity_timeout;
    assert.equal(await timeoutOf(c), 1);
    assert.equal(await timeoutOf(a), 120, 'an app without the key: the default');
    await c.first('pusher:ping');
    const err = await c.first('pusher:error');
    assert.deepEqual(err['data'], { code: 4201, message: 'Pong reply not received' });
    assert.equal(await c.closed, 4201);
    assert.equal(a.ws.readyState, WebSocket.OPEN, "the other app's connection is untouched");
  } finally {
    c.ws.terminate();
    a.ws.terminate();
  }
});

test('standalone: a pusher app without its secret is a config error naming the key', { timeout: 60_000 }, async () => {
  const r = await runCli(['serve', '--config', writeConfig(testConfig({ pusher: { app_id: '1', key: 'k' } }), 'pusher-bad.json'), '--port', '0']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /pusher\.secret/);
  // The same file with the secret from the environment variable is valid.
  const ok = await runCli(['checkconfig', '--config', writeConfig(testConfig({ pusher: { app_id: '1', key: 'k' } }), 'pusher-env.json')], { SWITCHBOARD_PUSHER_SECRET: 's' });
  assert.equal(ok.code, 0, ok.stderr);
  // Pusher webhooks: a url is needed, event types are Pusher's.
  const hooks = (webhooks: unknown) => writeConfig(testConfig({ pusher: { app_id: '1', key: 'k', secret: 's', webhooks } }), 'pusher-hooks.json');
  const good = await runCli(['checkconfig', '--config', hooks([{ url: 'http://127.0.0.1:9/hooks', event_types: ['channel_occupied', 'member_added'] }])]);
  assert.equal(good.code, 0, good.stderr);
  const noUrl = await runCli(['checkconfig', '--config', hooks([{ event_types: ['channel_occupied'] }])]);
  assert.notEqual(noUrl.code, 0);
  assert.match(noUrl.stderr, /pusher\.webhooks\[0\]\.url/);
  const badType = await runCli(['checkconfig', '--config', hooks([{ url: 'http://127.0.0.1:9/hooks', event_types: ['channel_exploded'] }])]);
  assert.notEqual(badType.code, 0);
  assert.match(badType.stderr, /channel_exploded/);
  // Keepalive and the webhook leave delay: a bad value names its key.
  const app = (extra: Record<string, unknown>) => writeConfig(testConfig({ pusher: { app_id: '1', key: 'k', secret: 's', ...extra } }), 'pusher-keepalive.json');
  const zero = await runCli(['checkconfig', '--config', app({ activity_timeout: 0 })]);
  assert.notEqual(zero.code, 0);
  assert.match(zero.stderr, /pusher\.activity_timeout: must be at least 1/);
  const text = await runCli(['checkconfig', '--config', app({ pong_timeout: 'soon' })]);
  assert.notEqual(text.code, 0);
  assert.match(text.stderr, /pusher\.pong_timeout/);
  const delay = await runCli(['checkconfig', '--config', app({ webhook_leave_delay: 'soon' })]);
  assert.notEqual(delay.code, 0);
  assert.match(delay.stderr, /pusher\.webhook_leave_delay/);
  const fine = await runCli(['checkconfig', '--config', app({ activity_timeout: 60, pong_timeout: 10, webhook_leave_delay: '5s' })]);
  assert.equal(fine.code, 0, fine.stderr);
});
