import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import PusherServer from 'pusher';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { PusherWebhookBackend } from '../../../packages/server/test/pusher-webhook-backend.js';
import { ADMIN_PASSWORD, api, runCli, sdk, signToken, startServerProcess, testConfig, until, writeConfig, type ServerProcess } from './helpers.js';

// The standalone server with a `pusher` block: pusher-js at /app/{key}, the Pusher HTTP API at
// /apps/{id}/, each app's channels under its own namespace, shared with the other protocols.

const require = createRequire(import.meta.url);
const PusherJs = require('pusher-js') as typeof import('pusher-js').default;
type PusherClient = InstanceType<typeof PusherJs>;

let srv: ServerProcess;
/** App B's webhook receiver (checks every request with the official library). */
let hooks: PusherWebhookBackend;
const A = { app_id: '1', key: 'key-a', secret: 'secret-a', namespace: 'pusher', enable_client_messages: true };
const B = { app_id: '2', key: 'key-b', secret: 'secret-b', namespace: 'other' };
const C = { app_id: '3', key: 'key-c', secret: 'secret-c', namespace: 'third', activity_timeout: 1, pong_timeout: 1, webhook_leave_delay: '0s' };

before(async () => {
  hooks = await new PusherWebhookBackend(() => new PusherServer({ appId: '2', key: 'key-b', secret: 'secret-b', host: '127.0.0.1' })).listen();
  const config = testConfig({ pusher: { apps: [A, { ...B, webhooks: [{ url: hooks.url, event_types: ['channel_occupied'] }] }, C] } });
  const channel = config['channel'] as { namespaces: Record<string, unknown>[] };
  channel.namespaces.push({ name: 'pusher', allow_subscribe_for_client: true });
  srv = await startServerProcess(writeConfig(config));
});
after(async () => {
  await srv?.stop();
  await hooks?.close();
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

test('standalone: per-app metrics (connections, frames, HTTP API calls, webhooks) labelled by app id, and the admin API per app', { timeout: 60_000 }, async () => {
  const lib = (appId: string, key: string, secret: string) => new PusherServer({ appId, key, secret, host: '127.0.0.1', port: String(srv.port), useTLS: false });
  const before = await metrics();
  const b = client('key-b');
  try {
    const ch = b.subscribe('metered');
    await wait((f) => ch.bind('pusher:subscription_succeeded', f), 'subscribed');
    const got = wait((f) => ch.bind('tick', f), 'tick');
    await lib('2', 'key-b', 'secret-b').trigger('metered', 'tick', { n: 1 });
    await got;
    await lib('2', 'key-b', 'secret-b').get({ path: '/channels' });
    await assert.rejects(lib('2', 'key-b', 'wrong').trigger('metered', 'x', {}), (e: { status?: number }) => e.status === 401);
    await assert.rejects(lib('999', 'key-b', 'secret-b').trigger('metered', 'x', {}), (e: { status?: number }) => e.status === 404);
    await until(() => hooks.named('channel_occupied', 'metered').length === 1, 10_000, 'the occupied webhook');
    const app2 = { app: '2' };
    let m = await metrics();
    await until(
      async () => {
        m = await metrics();
        return m.value('switchboard_pusher_connections', app2) === 1 && m.value('switchboard_pusher_webhook_events_delivered_total', app2) - before.value('switchboard_pusher_webhook_events_delivered_total', app2) >= 1;
      },
      10_000,
      'one open connection of app 2 and its webhook delivered',
    );
    const delta = (name: string, labels: Record<string, string>) => m.value(name, labels) - before.value(name, labels);
    assert.ok(delta('switchboard_pusher_connections_total', app2) >= 1);
    assert.ok(delta('switchboard_pusher_messages_total', { app: '2', direction: 'in' }) >= 1, 'the subscribe frame');
    assert.ok(delta('switchboard_pusher_messages_total', { app: '2', direction: 'out' }) >= 3, 'connection_established, subscription_succeeded, tick');
    assert.ok(delta('switchboard_pusher_bytes_total', { app: '2', direction: 'out' }) > 0);
    assert.equal(delta('switchboard_pusher_api_calls_total', { app: '2', endpoint: 'events', status: '200' }), 1);
    assert.equal(delta('switchboard_pusher_api_calls_total', { app: '2', endpoint: 'events', status: '401' }), 1);
    assert.equal(delta('switchboard_pusher_api_calls_total', { app: '2', endpoint: 'channels', status: '200' }), 1);
    assert.equal(delta('switchboard_pusher_api_calls_total', { app: '1', endpoint: 'events', status: '200' }), 0, "app 1's count is its own");
    assert.ok(m.has('switchboard_pusher_webhook_queued', { app: '2' }));
    assert.equal(m.has('switchboard_pusher_api_calls_total', { app: '999' }), false, 'no label from an unknown app id');
    // The admin API: the same per app, never a secret.
    const login = await fetch(`${srv.base}/admin/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: ADMIN_PASSWORD }) });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    assert.equal((await fetch(`${srv.base}/admin/api/pusher`)).status, 401, 'behind the login');
    const r = await fetch(`${srv.base}/admin/api/pusher`, { headers: { cookie } });
    assert.equal(r.status, 200);
    const text = await r.text();
    assert.equal(/secret-[abc]/.test(text), false, 'no app secret');
    const view = JSON.parse(text) as { apps: { id: string; key: string; namespace: string; connections: number; messagesIn: number; api: { endpoint: string; status: number; calls: number }[]; webhooks: { delivered: number }[] }[] };
    assert.deepEqual(view.apps.map((a) => [a.id, a.key, a.namespace]), [['1', 'key-a', 'pusher'], ['2', 'key-b', 'other'], ['3', 'key-c', 'third']]);
    const two = view.apps.find((a) => a.id === '2')!;
    assert.equal(two.connections, 1);
    assert.ok(two.messagesIn >= 1);
    assert.ok(two.api.some((c) => c.endpoint === 'events' && c.status === 401 && c.calls >= 1));
    assert.ok(two.webhooks[0]!.delivered >= 1);
    assert.deepEqual(view.apps.find((a) => a.id === '1')!.webhooks, [], 'app 1 has no webhooks');
  } finally {
    b.disconnect();
  }
});

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
// In CI a missing browser is a failure, never a skip (as browser.test.ts).
const noBrowser = !existsSync(CHROMIUM) && process.env['CI'] !== 'true' ? `Chromium not found at ${CHROMIUM}` : false;

test('standalone: the admin page shows each Pusher app (headless Chromium)', { skip: noBrowser, timeout: 90_000 }, async () => {
  const b = client(B.key);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  try {
    const ch = b.subscribe('on-admin');
    await wait((f) => ch.bind('pusher:subscription_succeeded', f), 'subscribed');
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${srv.base}/admin`);
    await page.waitForSelector('#login:not([hidden])', { timeout: 15_000 });
    await page.fill('#password', ADMIN_PASSWORD);
    await page.click('#loginForm button');
    await page.waitForSelector('#pusherCard:not([hidden]) #pusherApps tr[data-app="2"]', { timeout: 15_000 });
    const rows = await page.$$eval('#pusherApps tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    assert.deepEqual(rows.map((r) => r[0]), ['1 (key-a)', '2 (key-b)', '3 (key-c)']);
    const two = rows[1]!;
    assert.match(two[1]!, /^1 \(\d+ total\)$/, 'one open connection of app 2');
    assert.match(two[4]!, /^\d+ \/ \d+ \/ \d+$/, 'its webhook: delivered / queued / failed');
    assert.equal(rows[0]![4], '—', 'app 1 has no webhook');
    if (process.env['UPDATE_SCREENSHOTS'] === '1') await page.locator('#pusherCard').screenshot({ path: 'docs/screenshots/admin-pusher.png' });
    assert.deepEqual(errors, []);
  } finally {
    b.disconnect();
    await browser.close();
  }
});

async function metrics(): Promise<{ value(name: string, labels?: Record<string, string>): number; has(name: string, labels?: Record<string, string>): boolean }> {
  const r = await fetch(`${srv.base}/metrics`);
  assert.equal(r.status, 200);
  const lines = (await r.text()).split('\n').filter((l) => l && !l.startsWith('#'));
  const find = (name: string, labels: Record<string, string>): number | undefined => {
    let sum: number | undefined;
    for (const l of lines) {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(l);
      if (!m || m[1] !== name) continue;
      const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum = (sum ?? 0) + Number(m[3]);
    }
    return sum;
  };
  return { value: (name, labels = {}) => find(name, labels) ?? 0, has: (name, labels = {}) => find(name, labels) !== undefined };
}

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
