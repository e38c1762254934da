import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import PusherServer from 'pusher';
import WebSocket from 'ws';
import { PusherWebhookBackend } from '../../../packages/server/test/pusher-webhook-backend.js';
import { runCli, startServerProcess, testConfig, until, writeConfig, type ServerProcess } from './helpers.js';

// `pusher.apps_file`: Pusher apps in a JSON file beside the inline ones, re-read on SIGHUP by the
// real server process. Apps added connect at once; apps removed are closed with 4001 (pusher-js
// does not retry) and their HTTP API answers 404; an invalid file is refused and nothing changes.

const require = createRequire(import.meta.url);
const PusherJs = require('pusher-js') as typeof import('pusher-js').default;
type PusherClient = InstanceType<typeof PusherJs>;

const INLINE = { app_id: '1', key: 'key-inline', secret: 'secret-inline', namespace: 'inline' };
const B = { app_id: '2', key: 'key-b', secret: 'secret-b', namespace: 'bee' };
const C = { app_id: '3', key: 'key-c', secret: 'secret-c', namespace: 'cee' };

let srv: ServerProcess;
let appsFile: string;

before(async () => {
  appsFile = writeConfig([B], 'apps.json');
  srv = await startServerProcess(writeConfig(testConfig({ pusher: { ...INLINE, apps_file: appsFile } }), 'config.json'));
});
after(async () => {
  await srv?.stop();
});

/** The secret the app backend signs channel authorizations with (as it would read it from its own table). */
const backendSecret = new Map<string, string>();

function client(key: string): PusherClient {
  return new PusherJs(key, {
    cluster: 'mt1',
    wsHost: '127.0.0.1',
    wsPort: srv.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    channelAuthorization: {
      endpoint: '/unused',
      transport: 'ajax',
      customHandler: ({ socketId, channelName }, callback) => {
        const signer = new PusherServer({ appId: 'x', key, secret: backendSecret.get(key) ?? 'unknown', host: '127.0.0.1' });
        callback(null, signer.authorizeChannel(socketId, channelName));
      },
    },
  });
}

function library(app: { app_id: string; key: string; secret: string }): PusherServer {
  return new PusherServer({ appId: app.app_id, key: app.key, secret: app.secret, host: '127.0.0.1', port: String(srv.port), useTLS: false });
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

/** Write the apps file, send SIGHUP, and resolve with the server's log line about it (reloaded or refused). */
async function reload(content: unknown): Promise<Record<string, unknown>> {
  writeFileSync(appsFile, typeof content === 'string' ? content : JSON.stringify(content));
  const from = srv.logs.length;
  const answer = () => srv.logs.slice(from).find((l) => l['msg'] === 'pusher apps reloaded' || (typeof l['msg'] === 'string' && l['msg'].includes('refused, the running apps are unchanged')));
  srv.child.kill('SIGHUP');
  await until(() => answer() !== undefined, 10_000, 'the reload log line');
  return answer()!;
}

/** A connected pusher-js client subscribed to `channel`. */
async function subscribed(key: string, channel = 'news') {
  const c = client(key);
  const ch = c.subscribe(channel);
  await wait((f) => ch.bind('pusher:subscription_succeeded', f), `${key} subscribed`);
  return { c, ch };
}

async function delivered(app: typeof B, ch: ReturnType<PusherClient['subscribe']>, event: string): Promise<unknown> {
  const got = wait<unknown>((f) => ch.bind(event, f), event);
  await library(app).trigger('news', event, { n: 1 });
  return got;
}

test('apps_file + SIGHUP: an added app connects and gets events; a changed secret takes effect; a removed app is closed with 4001 and refused by the HTTP API', { timeout: 90_000 }, async () => {
  const b = await subscribed(B.key);
  try {
    // Add C.
    const added = await reload([B, C]);
    assert.deepEqual([added['added'], added['removed'], added['changed']], [['3'], [], []]);
    const c = await subscribed(C.key);
    assert.deepEqual(await delivered(C, c.ch, 'hello'), { n: 1 });
    assert.equal(c.c.connection.state, 'connected');

    // Change B's secret: the old one no longer signs, the new one does; B's client stays connected.
    const B2 = { ...B, secret: 'secret-b-2' };
    const changed = await reload([B2, C]);
    assert.deepEqual([changed['added'], changed['removed'], changed['changed']], [[], [], ['2']]);
    await assert.rejects(library(B).trigger('news', 'stale', {}), (err: { status?: number }) => err.status === 401);
    assert.deepEqual(await delivered(B2, b.ch, 'fresh'), { n: 1 });
    // B's open connection checks its next channel authorization with the new secret.
    backendSecret.set(B.key, B.secret);
    const refused = b.c.subscribe('private-old');
    const status = await wait<{ status?: number }>((f) => refused.bind('pusher:subscription_error', f), 'old-secret authorization refused');
    assert.equal(status.status, 401);
    b.c.unsubscribe('private-old');
    backendSecret.set(B.key, B2.secret);
    const admitted = b.c.subscribe('private-new');
    await wait((f) => admitted.bind('pusher:subscription_succeeded', f), 'new-secret authorization admitted');

    // Remove C: its pusher-js client is told 4001 and stays disconnected (no retry); a raw
    // WebSocket sees the close code; the HTTP API knows the app no more.
    const raw = new WebSocket(`ws://127.0.0.1:${srv.port}/app/${C.key}?protocol=7`);
    const rawClosed = new Promise<number>((resolve) => raw.on('close', (code: number) => resolve(code)));
    await wait((f) => raw.on('message', f), 'raw connection_established');
    const told = wait<{ data?: { code?: number } }>((f) => c.c.connection.bind('error', f), 'C told the app is gone');
    const stopped = wait<unknown>((f) => c.c.connection.bind('disconnected', f), 'C disconnected');
    const removed = await reload([B2]);
    assert.deepEqual([removed['added'], removed['removed'], removed['changed']], [[], ['3'], []]);
    assert.equal((await told).data?.code, 4001);
    await stopped;
    assert.equal(await rawClosed, 4001);
    await assert.rejects(library(C).trigger('news', 'gone', {}), (err: { status?: number }) => err.status === 404);
    // A new connection with the removed key is refused the same way.
    const again = new WebSocket(`ws://127.0.0.1:${srv.port}/app/${C.key}?protocol=7`);
    assert.equal(await new Promise<number>((resolve) => again.on('close', (code: number) => resolve(code))), 4001);
    assert.equal(b.c.connection.state, 'connected', "another app's connection is untouched");
    c.c.disconnect();
  } finally {
    b.c.disconnect();
  }
});

test('apps_file + SIGHUP: a broken file is refused with a logged error naming it; the running apps keep working', { timeout: 60_000 }, async () => {
  const current = { ...B, secret: 'secret-b-3' };
  await reload([current]);
  const b = await subscribed(B.key);
  const inline = await subscribed(INLINE.key);
  try {
    const notJson = await reload('[{"app_id": "4",');
    assert.equal(notJson['level'], 50, 'logged as an error');
    assert.match(String(notJson['msg']), new RegExp(`${appsFile.replaceAll('.', '\\.')} refused.*not valid JSON`));
    const noSecret = await reload([current, { app_id: '4', key: 'key-d' }]);
    assert.equal(noSecret['level'], 50);
    assert.match(String(noSecret['msg']), /apps\.json\[1\]\.secret/);
    const duplicate = await reload([current, { ...C, key: B.key }]);
    assert.match(String(duplicate['msg']), /key key-b is used twice/);
    // Nothing changed: B (its last good secret) and the inline app still deliver, to the clients
    // already there and to new ones; the refused app 4 does not exist.
    assert.deepEqual(await delivered(current, b.ch, 'still'), { n: 1 });
    assert.deepEqual(await delivered(INLINE, inline.ch, 'inline'), { n: 1 });
    const late = await subscribed(B.key);
    assert.deepEqual(await delivered(current, late.ch, 'late'), { n: 1 });
    late.c.disconnect();
    const d = new WebSocket(`ws://127.0.0.1:${srv.port}/app/key-d?protocol=7`);
    assert.equal(await new Promise<number>((resolve) => d.on('close', (code: number) => resolve(code))), 4001);
  } finally {
    b.c.disconnect();
    inline.c.disconnect();
  }
});

test('apps_file + SIGHUP: an app added with webhooks sends them (on a server started without any); a changed secret signs the next ones', { timeout: 60_000 }, async () => {
  let dSecret = 'secret-d';
  const hooks = await new PusherWebhookBackend(() => new PusherServer({ appId: '4', key: 'key-d', secret: dSecret, host: '127.0.0.1' })).listen();
  const D = { app_id: '4', key: 'key-d', secret: dSecret, namespace: 'dee', webhooks: [{ url: hooks.url, event_types: ['channel_occupied'] }] };
  let d: Awaited<ReturnType<typeof subscribed>> | undefined;
  try {
    const added = await reload([D]);
    assert.deepEqual(added['added'], ['4']);
    d = await subscribed(D.key, 'room');
    await until(() => hooks.named('channel_occupied', 'room').length === 1, 10_000, 'channel_occupied for room');
    dSecret = 'secret-d-2';
    const changed = await reload([{ ...D, secret: dSecret }]);
    assert.deepEqual(changed['changed'], ['4']);
    d.c.subscribe('room2');
    await until(() => hooks.named('channel_occupied', 'room2').length === 1, 10_000, 'channel_occupied for room2, signed with the new secret');
    assert.equal(hooks.invalid, 0, 'every webhook request was signed with the secret of its moment');
  } finally {
    d?.c.disconnect();
    await hooks.close();
  }
});

test('apps_file + SIGHUP: an app whose key changed is removed and added: the old key is closed with 4001, the new one connects', { timeout: 60_000 }, async () => {
  const E = { app_id: '5', key: 'key-e', secret: 'secret-e', namespace: 'eee' };
  await reload([E]);
  const old = await subscribed(E.key);
  const fresh = { ...E, key: 'key-e-2' };
  let next: Awaited<ReturnType<typeof subscribed>> | undefined;
  try {
    const told = wait<{ data?: { code?: number } }>((f) => old.c.connection.bind('error', f), 'old key told');
    const change = await reload([fresh]);
    assert.deepEqual([change['added'], change['removed'], change['changed']], [['5'], ['5'], []]);
    assert.equal((await told).data?.code, 4001);
    next = await subscribed(fresh.key);
    assert.deepEqual(await delivered(fresh, next.ch, 'renamed'), { n: 1 });
  } finally {
    old.c.disconnect();
    next?.c.disconnect();
  }
});

test('apps_file at startup: validated like inline apps, a bad app names the file and its key', { timeout: 60_000 }, async () => {
  const dir = dirname(appsFile);
  const check = (apps: unknown, name: string) => {
    const file = join(dir, name);
    writeFileSync(file, typeof apps === 'string' ? apps : JSON.stringify(apps));
    return runCli(['checkconfig', '--config', writeConfig(testConfig({ pusher: { apps_file: file } }), `config-${name}`)]).then((r) => ({ ...r, file }));
  };
  const ok = await check([B, C], 'good.json');
  assert.equal(ok.code, 0, ok.stderr);
  const empty = await check([], 'empty.json');
  assert.equal(empty.code, 0, empty.stderr);
  const twice = await check([B, { ...C, key: B.key }], 'twice.json');
  assert.equal(twice.code, 2);
  assert.ok(twice.stderr.includes(`pusher (with ${twice.file}): pusher app 3: key key-b is used twice`), twice.stderr);
  const noSecret = await check([B, { app_id: '3', key: 'k' }], 'nosecret.json');
  assert.equal(noSecret.code, 2);
  assert.ok(noSecret.stderr.includes(`${noSecret.file}[1].secret`), noSecret.stderr);
  const badType = await check([{ ...B, activity_timeout: 'soon' }], 'badtype.json');
  assert.equal(badType.code, 2);
  assert.ok(badType.stderr.includes(`${badType.file}[0].activity_timeout`), badType.stderr);
  const unknownKey = await check([{ ...B, secrett: 'x' }], 'unknown.json');
  assert.equal(unknownKey.code, 2);
  assert.ok(unknownKey.stderr.includes(unknownKey.file), unknownKey.stderr);
  const notArray = await check(B, 'object.json');
  assert.equal(notArray.code, 2);
  assert.match(notArray.stderr, /pusher\.apps_file: .*must hold a JSON array/);
  const missing = await runCli(['checkconfig', '--config', writeConfig(testConfig({ pusher: { apps_file: join(dir, 'nowhere.json') } }), 'config-missing.json')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /pusher\.apps_file: cannot read .*nowhere\.json/);
});
