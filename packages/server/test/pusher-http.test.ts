import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import PusherServer from 'pusher';
import { RawClient, until } from './helpers.js';
import { APP, connectedOf, next, pusherClient, startPusher, type PusherTestServer } from './pusher-helpers.js';

/** A request signed by hand (Pusher's documented scheme), to forge each kind of bad request. */
async function signed(
  srv: PusherTestServer,
  method: 'GET' | 'POST',
  path: string,
  body: string | undefined,
  o: { secret?: string; key?: string; ts?: number; md5?: string; appId?: string } = {},
): Promise<{ status: number; body: string }> {
  const full = `/apps/${o.appId ?? APP.id}${path}`;
  const params: Record<string, string> = { auth_key: o.key ?? APP.key, auth_timestamp: String(o.ts ?? Math.floor(Date.now() / 1000)), auth_version: '1.0' };
  if (body !== undefined) params['body_md5'] = o.md5 ?? createHash('md5').update(body).digest('hex');
  const text = Object.keys(params)
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&');
  const sig = createHmac('sha256', o.secret ?? APP.secret).update(`${method}\n${full}\n${text}`).digest('hex');
  const res = await fetch(`http://127.0.0.1:${srv.port}${full}?${text}&auth_signature=${sig}`, {
    method,
    ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}),
  });
  return { status: res.status, body: await res.text() };
}

test('pusher HTTP API with the official library: events, batch_events, socket_id exclusion, channels, channel info, users', { timeout: 20_000 }, async () => {
  const srv = await startPusher();
  const a = pusherClient(srv, { user: 'alice' });
  const b = pusherClient(srv, { user: 'bob' });
  try {
    await Promise.all([connectedOf(a), connectedOf(b)]);
    const [na, nb] = [a.subscribe('news'), b.subscribe('news')];
    const [pa] = [a.subscribe('presence-lobby'), b.subscribe('presence-lobby')];
    await Promise.all([next((cb) => na.bind('pusher:subscription_succeeded', cb)), next((cb) => nb.bind('pusher:subscription_succeeded', cb))]);
    await until(async () => (await srv.sb.presenceStore.get('pusher:presence-lobby')).size === 2, 5000, 'both in presence');
    void pa;
    // events with socket_id: the sender (a) is skipped, b gets it; then a later event reaches both.
    let aGotExcluded = false;
    na.bind('excluded', () => (aGotExcluded = true));
    const bGot = next<unknown>((cb) => nb.bind('excluded', cb), 5000, 'b excluded event');
    await srv.api.trigger('news', 'excluded', { n: 1 }, { socket_id: a.connection.socket_id });
    assert.deepEqual(await bGot, { n: 1 });
    const aLater = next<unknown>((cb) => na.bind('later', cb), 5000, 'a later');
    await srv.api.trigger('news', 'later', 'a string');
    assert.equal(await aLater, 'a string');
    assert.equal(aGotExcluded, false);
    // batch_events
    const batchGot = next<unknown>((cb) => nb.bind('b2', cb), 5000, 'batch 2');
    const batchRes = await srv.api.triggerBatch([
      { channel: 'news', name: 'b1', data: { i: 1 } },
      { channel: 'news', name: 'b2', data: { i: 2 } },
    ]);
    assert.equal(batchRes.status, 200);
    assert.deepEqual(await batchGot, { i: 2 });
    // channels, with a prefix filter and user_count
    const all = (await (await srv.api.get({ path: '/channels' })).json()) as { channels: Record<string, unknown> };
    assert.deepEqual(Object.keys(all.channels).sort(), ['news', 'presence-lobby']);
    const pres = (await (await srv.api.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } })).json()) as { channels: Record<string, { user_count: number }> };
    assert.deepEqual(pres.channels, { 'presence-lobby': { user_count: 2 } });
    const one = await (await srv.api.get({ path: '/channels/presence-lobby', params: { info: 'user_count,subscription_count' } })).json();
    assert.deepEqual(one, { occupied: true, user_count: 2, subscription_count: 2 });
    assert.deepEqual(await (await srv.api.get({ path: '/channels/empty' })).json(), { occupied: false });
    const users = (await (await srv.api.get({ path: '/channels/presence-lobby/users' })).json()) as { users: { id: string }[] };
    assert.deepEqual(users.users.map((u) => u.id).sort(), ['alice', 'bob']);
    // users of a non-presence channel: 400
    await assert.rejects(srv.api.get({ path: '/channels/news/users' }), (e: { status?: number }) => e.status === 400);
  } finally {
    a.disconnect();
    b.disconnect();
    await srv.close();
  }
});

test('pusher HTTP API refusals: bad signature, stale timestamp, wrong body_md5, unknown app and key, oversized data, reserved names', { timeout: 20_000 }, async () => {
  const srv = await startPusher();
  try {
    const body = JSON.stringify({ name: 'e', data: '{}', channels: ['news'] });
    assert.equal((await signed(srv, 'POST', '/events', body)).status, 200);
    const wrongSecret = new PusherServer({ appId: APP.id, key: APP.key, secret: 'wrong', host: '127.0.0.1', port: String(srv.port), useTLS: false });
    await assert.rejects(wrongSecret.trigger('news', 'e', {}), (e: { status?: number; body?: string }) => e.status === 401 && /Invalid signature/.test(e.body ?? ''));
    const stale = await signed(srv, 'POST', '/events', body, { ts: Math.floor(Date.now() / 1000) - 3600 });
    assert.equal(stale.status, 401);
    assert.match(stale.body, /Timestamp expired/);
    const md5 = await signed(srv, 'POST', '/events', body, { md5: createHash('md5').update('other').digest('hex') });
    assert.equal(md5.status, 401);
    assert.match(md5.body, /body_md5/);
    const unknownApp = await signed(srv, 'POST', '/events', body, { appId: '999' });
    assert.equal(unknownApp.status, 404);
    const unknownKey = await signed(srv, 'POST', '/events', body, { key: 'other-key' });
    assert.equal(unknownKey.status, 401);
    // Default limit: 10 KB of data.
    const big = await signed(srv, 'POST', '/events', JSON.stringify({ name: 'e', data: 'x'.repeat(11 * 1024), channels: ['news'] }));
    assert.equal(big.status, 413);
    await assert.rejects(srv.api.trigger('news', 'pusher:connection_established', {}), (e: { status?: number }) => e.status === 400);
    const badName = await signed(srv, 'POST', '/events', JSON.stringify({ name: 'e', data: '{}', channels: ['bad:name'] }));
    assert.equal(badName.status, 400);
    const tooMany = await signed(srv, 'POST', '/batch_events', JSON.stringify({ batch: Array.from({ length: 11 }, () => ({ channel: 'news', name: 'e', data: '{}' })) }));
    assert.equal(tooMany.status, 400);
    const notJson = await signed(srv, 'POST', '/events', 'nope');
    assert.equal(notJson.status, 400);
  } finally {
    await srv.close();
  }
});

test('pusher-js sign-in, then an event to the user through the HTTP API (sendToUser)', { timeout: 20_000 }, async () => {
  const srv = await startPusher();
  const a = pusherClient(srv, { user: 'alice' });
  try {
    await connectedOf(a);
    const got = next<unknown>((cb) => a.user.bind('notify', cb), 5000, 'user event');
    a.signin();
    await until(async () => ((await srv.sb.channels('pusher:#server-to-user-alice')).get('pusher:#server-to-user-alice') ?? 0) === 1, 5000, 'user channel');
    await srv.api.sendToUser('alice', 'notify', { hello: 'alice' });
    assert.deepEqual(await got, { hello: 'alice' });
  } finally {
    a.disconnect();
    await srv.close();
  }
});

test('pusher HTTP API terminate_connections closes every connection of a signed-in user with 4009, nobody else', { timeout: 20_000 }, async () => {
  const srv = await startPusher();
  const a1 = pusherClient(srv, { user: 'alice' });
  const a2 = pusherClient(srv, { user: 'alice' });
  const b = pusherClient(srv, { user: 'bob' });
  try {
    await Promise.all([connectedOf(a1), connectedOf(a2), connectedOf(b)]);
    for (const c of [a1, a2, b]) c.signin();
    const userChannel = (u: string) => `pusher:#server-to-user-${u}`;
    await until(async () => (await srv.sb.presenceStore.get(userChannel('alice'))).size === 2 && (await srv.sb.presenceStore.get(userChannel('bob'))).size === 1, 5000, 'signed in');
    // pusher-js reports the pusher:error frame (PusherError, data.code) that precedes the 4009 close.
    const codes = [a1, a2].map((c) => next<{ data?: { code?: number } }>((cb) => c.connection.bind('error', cb), 5000, 'terminated'));
    const res = await srv.api.terminateUserConnections('alice');
    assert.equal(res.status, 200);
    for (const e of await Promise.all(codes)) assert.equal(e.data?.code, 4009);
    await until(() => a1.connection.state === 'disconnected' && a2.connection.state === 'disconnected', 5000, 'alice disconnected');
    assert.equal(b.connection.state, 'connected');
    const still = next((cb) => b.user.bind('still', cb), 5000, 'bob still served');
    await srv.api.sendToUser('bob', 'still', {});
    await still;
  } finally {
    for (const c of [a1, a2, b]) c.disconnect();
    await srv.close();
  }
});

test('pusher HTTP API data reaches Pusher clients byte for byte (whitespace, number spelling, a JSON-encoded string), and the SDK side as the value', { timeout: 20_000 }, async () => {
  const srv = await startPusher();
  const raw = new RawClient(`ws://127.0.0.1:${srv.port}/app/${APP.key}?protocol=7`);
  const c = pusherClient(srv);
  try {
    await raw.next((m) => m['event'] === 'pusher:connection_established');
    raw.send({ event: 'pusher:subscribe', data: { auth: '', channel: 'news' } });
    await raw.next((m) => m['event'] === 'pusher_internal:subscription_succeeded');
    await connectedOf(c);
    const ch = c.subscribe('news');
    await next((cb) => ch.bind('pusher:subscription_succeeded', cb), 5000, 'subscribed');
    const got: unknown[] = [];
    ch.bind('e', (d: unknown) => got.push(d));
    // What every other protocol sees: the publication's value, {event, payload}.
    const values: unknown[] = [];
    srv.sb.on('publish', (channel, pub) => void (channel === 'pusher:news' && values.push(JSON.parse(pub.data))));
    // The official library passes a string `data` through as it is.
    const sent = ['{ "a" : 1 }', '1.50', JSON.stringify(JSON.stringify({ a: 1 })), 'plain text', '{"b":[1, 2]}'];
    for (const data of sent) await srv.api.trigger('news', 'e', data);
    for (const data of sent) {
      const f = await raw.next((m) => m['event'] === 'e');
      assert.equal(f['data'], data);
    }
    // pusher-js parses data when it can: the JSON-encoded string arrives as that string, not as the object it spells.
    await until(() => got.length === sent.length, 5000, 'pusher-js got every event');
    assert.deepEqual(got, [{ a: 1 }, 1.5, '{"a":1}', 'plain text', { b: [1, 2] }]);
    assert.deepEqual(values, [{ a: 1 }, 1.5, '{"a":1}', 'plain text', { b: [1, 2] }].map((payload) => ({ event: 'e', payload })));
  } finally {
    raw.close();
    c.disconnect();
    await srv.close();
  }
});

test('pusher HTTP API events: info answers each channel\'s user_count and subscription_count; over 100 channels and a 201-character name refused', { timeout: 20_000 }, async () => {
  const srv = await startPusher();
  const a = pusherClient(srv, { user: 'alice' });
  const b = pusherClient(srv, { user: 'bob' });
  try {
    await Promise.all([connectedOf(a), connectedOf(b)]);
    const subs = [a.subscribe('presence-lobby'), a.subscribe('news'), b.subscribe('news')];
    await Promise.all(subs.map((s) => next((cb) => s.bind('pusher:subscription_succeeded', cb), 5000, s.name)));
    const res = await srv.api.trigger(['presence-lobby', 'news', 'empty'], 'e', {}, { info: 'user_count,subscription_count' });
    assert.deepEqual(await res.json(), {
      channels: { 'presence-lobby': { user_count: 1, subscription_count: 1 }, news: { subscription_count: 2 }, empty: { subscription_count: 0 } },
    });
    const channels = Array.from({ length: 101 }, (_, i) => `c${i}`);
    const many = await signed(srv, 'POST', '/events', JSON.stringify({ name: 'e', data: '{}', channels }));
    assert.equal(many.status, 400);
    assert.match(many.body, /At most 100 channels/);
    const long = await signed(srv, 'POST', '/events', JSON.stringify({ name: 'e'.repeat(201), data: '{}', channel: 'news' }));
    assert.equal(long.status, 400);
    assert.match(long.body, /1 to 200 characters/);
    const badInfo = await signed(srv, 'POST', '/events', JSON.stringify({ name: 'e', data: '{}', channel: 'news', info: 7 }));
    assert.equal(badInfo.status, 400);
  } finally {
    a.disconnect();
    b.disconnect();
    await srv.close();
  }
});
