import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { RawClient } from './helpers.js';
import { APP, startPusher, type PusherTestServer } from './pusher-helpers.js';

type Frame = Record<string, unknown>;

async function raw(srv: PusherTestServer, query = 'protocol=7&client=js&version=8.6.0'): Promise<{ c: RawClient; socketId: string }> {
  const c = new RawClient(`ws://127.0.0.1:${srv.port}/app/${APP.key}?${query}`);
  await c.opened;
  const hello = await c.next((m) => m['event'] === 'pusher:connection_established');
  return { c, socketId: (JSON.parse(hello['data'] as string) as { socket_id: string }).socket_id };
}

const auth = (s: string) => `${APP.key}:${createHmac('sha256', APP.secret).update(s).digest('hex')}`;
const errorOf = (m: Frame) => m['data'] as { code: number | null; message: string };

test('pusher bad input: malformed frames, bad names, client events where not allowed, floods, huge frames, bad versions and sign-ins', { timeout: 30_000 }, async () => {
  const srv = await startPusher({ limits: { maxMessageSize: 64 * 1024 } });
  const clients: RawClient[] = [];
  try {
    const { c, socketId } = await raw(srv);
    clients.push(c);
    for (const bad of ['not json', '[1]', '{"data":{}}', '{"event":"pusher:nonsense","data":{}}']) {
      c.send(bad);
      const e = await c.next((m) => m['event'] === 'pusher:error');
      assert.equal(errorOf(e).code, null, bad);
    }
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.match(errorOf(await c.next((m) => m['event'] === 'pusher:error')).message, /binary/);
    c.send({ event: 'pusher:subscribe', data: { auth: '', channel: 'bad:name' } });
    assert.equal(((await c.next((m) => m['event'] === 'pusher:subscription_error'))['data'] as { type: string }).type, 'InvalidChannel');
    c.send({ event: 'pusher:subscribe', data: { auth: '', channel: 'news' } });
    await c.next((m) => m['event'] === 'pusher_internal:subscription_succeeded' && m['channel'] === 'news');
    // Client events: refused on public channels and on channels not subscribed, with 4301, channel named.
    c.send({ event: 'client-x', channel: 'news', data: {} });
    let e = await c.next((m) => m['event'] === 'pusher:error');
    assert.equal(errorOf(e).code, 4301);
    assert.equal(e['channel'], 'news');
    c.send({ event: 'client-x', channel: 'private-chat', data: {} });
    e = await c.next((m) => m['event'] === 'pusher:error');
    assert.equal(errorOf(e).code, 4301);
    assert.match(errorOf(e).message, /Not subscribed/);
    // A flood of client events: the rate limit refuses the excess, the receiver is unaffected.
    const { c: other, socketId: otherId } = await raw(srv);
    clients.push(other);
    c.send({ event: 'pusher:subscribe', data: { auth: auth(`${socketId}:private-chat`), channel: 'private-chat' } });
    other.send({ event: 'pusher:subscribe', data: { auth: auth(`${otherId}:private-chat`), channel: 'private-chat' } });
    await c.next((m) => m['event'] === 'pusher_internal:subscription_succeeded' && m['channel'] === 'private-chat');
    await other.next((m) => m['event'] === 'pusher_internal:subscription_succeeded' && m['channel'] === 'private-chat');
    for (let i = 0; i < 30; i++) c.send({ event: 'client-flood', channel: 'private-chat', data: { i } });
    const limited = await c.next((m) => m['event'] === 'pusher:error' && /rate limit/.test(errorOf(m).message));
    assert.equal(errorOf(limited).code, 4301);
    await other.next((m) => m['event'] === 'client-flood');
    // Oversized client event data (default 10 KB): refused, the connection stays.
    c.send({ event: 'client-big', channel: 'private-chat', data: { s: 'x'.repeat(11 * 1024) } });
    await c.next((m) => m['event'] === 'pusher:error' && /larger than/.test(errorOf(m).message));
    c.send({ event: 'pusher:ping', data: {} });
    await c.next((m) => m['event'] === 'pusher:pong');
    // A frame over the node's message size limit closes that connection only.
    c.send({ event: 'pusher:ping', data: { s: 'x'.repeat(70 * 1024) } });
    assert.equal((await c.waitClose()).code, 1009);
    other.send({ event: 'pusher:ping', data: {} });
    await other.next((m) => m['event'] === 'pusher:pong');
    // Unsupported protocol version: 4007 frame and close.
    const v = new RawClient(`ws://127.0.0.1:${srv.port}/app/${APP.key}?protocol=9`);
    clients.push(v);
    assert.equal(errorOf(await v.next((m) => m['event'] === 'pusher:error')).code, 4007);
    assert.equal((await v.waitClose()).code, 4007);
    // Protocols 5 and 6 use the same frames: served.
    for (const version of ['5', '6']) {
      const ok = new RawClient(`ws://127.0.0.1:${srv.port}/app/${APP.key}?protocol=${version}`);
      clients.push(ok);
      await ok.next((m) => m['event'] === 'pusher:connection_established');
    }
    // A sign-in with a bad signature: 4009 frame and close.
    other.send({ event: 'pusher:signin', data: { auth: `${APP.key}:00`, user_data: '{"id":"eve"}' } });
    assert.equal(errorOf(await other.next((m) => m['event'] === 'pusher:error')).code, 4009);
    assert.equal((await other.waitClose()).code, 4009);
  } finally {
    for (const c of clients) c.close();
    await srv.close();
  }
});

const subscribed = (c: RawClient, channel: string) => c.next((m) => m['event'] === 'pusher_internal:subscription_succeeded' && m['channel'] === channel);
const subError = async (c: RawClient, channel: string) =>
  (await c.next((m) => m['event'] === 'pusher:subscription_error' && m['channel'] === channel))['data'] as { type: string; error: string; status: number };
const presenceAuth = (socketId: string, channel: string, member: unknown) => {
  const channelData = JSON.stringify(member);
  return { auth: auth(`${socketId}:${channel}:${channelData}`), channel_data: channelData, channel };
};

test('pusher limits: a full presence channel (LimitReached 4100, the same user still admitted), user_info too large, user_id too long, client events disabled', { timeout: 30_000 }, async () => {
  const srv = await startPusher({}, { ...APP, maxPresenceMembers: 1, maxUserInfoKb: 1, enableClientMessages: false });
  const clients: RawClient[] = [];
  try {
    const [a1, b, a2] = [await raw(srv), await raw(srv), await raw(srv)];
    clients.push(a1.c, b.c, a2.c);
    a1.c.send({ event: 'pusher:subscribe', data: presenceAuth(a1.socketId, 'presence-room', { user_id: 'alice' }) });
    await subscribed(a1.c, 'presence-room');
    b.c.send({ event: 'pusher:subscribe', data: presenceAuth(b.socketId, 'presence-room', { user_id: 'bob' }) });
    const full = await subError(b.c, 'presence-room');
    assert.equal(full.type, 'LimitReached');
    assert.equal(full.status, 4100);
    // Alice's second connection is the same member: admitted, still one member.
    a2.c.send({ event: 'pusher:subscribe', data: presenceAuth(a2.socketId, 'presence-room', { user_id: 'alice' }) });
    const here = JSON.parse((await subscribed(a2.c, 'presence-room'))['data'] as string) as { presence: { count: number; ids: string[] } };
    assert.deepEqual(here.presence.ids, ['alice']);
    // user_info over 1 KB, and a user_id over 128 characters: AuthError 400; the connection stays.
    b.c.send({ event: 'pusher:subscribe', data: presenceAuth(b.socketId, 'presence-big', { user_id: 'bob', user_info: { s: 'x'.repeat(1100) } }) });
    const big = await subError(b.c, 'presence-big');
    assert.deepEqual([big.type, big.status], ['AuthError', 400]);
    assert.match(big.error, /user_info is larger than 1024 bytes/);
    b.c.send({ event: 'pusher:subscribe', data: presenceAuth(b.socketId, 'presence-long', { user_id: 'u'.repeat(129) }) });
    const long = await subError(b.c, 'presence-long');
    assert.deepEqual([long.type, long.status], ['AuthError', 400]);
    assert.match(long.error, /up to 128 characters/);
    // Client events on an app that does not enable them: 4301, even on a subscribed private channel.
    b.c.send({ event: 'pusher:subscribe', data: { auth: auth(`${b.socketId}:private-chat`), channel: 'private-chat' } });
    await subscribed(b.c, 'private-chat');
    b.c.send({ event: 'client-x', channel: 'private-chat', data: {} });
    const e = await b.c.next((m) => m['event'] === 'pusher:error');
    assert.equal(errorOf(e).code, 4301);
    assert.match(errorOf(e).message, /not enabled/);
    b.c.send({ event: 'pusher:ping', data: {} });
    await b.c.next((m) => m['event'] === 'pusher:pong');
  } finally {
    for (const c of clients) c.close();
    await srv.close();
  }
});

test('pusher encrypted channels (§17.5): admitted by a private signature, client events refused while subscribed', { timeout: 20_000 }, async () => {
  const srv = await startPusher();
  const clients: RawClient[] = [];
  try {
    const { c, socketId } = await raw(srv);
    clients.push(c);
    c.send({ event: 'pusher:subscribe', data: { auth: auth(`${socketId}:private-encrypted-x`), channel: 'private-encrypted-x' } });
    await subscribed(c, 'private-encrypted-x');
    c.send({ event: 'client-x', channel: 'private-encrypted-x', data: {} });
    const e = await c.next((m) => m['event'] === 'pusher:error');
    assert.equal(errorOf(e).code, 4301);
    assert.equal(e['channel'], 'private-encrypted-x');
    assert.match(errorOf(e).message, /only allowed on private and presence/);
    // A wrong signature is refused as for any private channel.
    c.send({ event: 'pusher:subscribe', data: { auth: `${APP.key}:00`, channel: 'private-encrypted-y' } });
    assert.equal((await subError(c, 'private-encrypted-y')).type, 'AuthError');
  } finally {
    for (const c of clients) c.close();
    await srv.close();
  }
});

test('pusher presence without channel_data (§17.3): the signed-in user is the member; without a sign-in, AuthError 400', { timeout: 20_000 }, async () => {
  const srv = await startPusher();
  const clients: RawClient[] = [];
  try {
    const anon = await raw(srv);
    clients.push(anon.c);
    anon.c.send({ event: 'pusher:subscribe', data: { auth: auth(`${anon.socketId}:presence-room`), channel: 'presence-room' } });
    const refused = await subError(anon.c, 'presence-room');
    assert.deepEqual([refused.type, refused.status], ['AuthError', 400]);
    const { c, socketId } = await raw(srv);
    clients.push(c);
    const userData = JSON.stringify({ id: 'alice', user_info: { name: 'Alice' } });
    c.send({ event: 'pusher:signin', data: { auth: auth(`${socketId}::user::${userData}`), user_data: userData } });
    await c.next((m) => m['event'] === 'pusher:signin_success');
    c.send({ event: 'pusher:subscribe', data: { auth: auth(`${socketId}:presence-room`), channel: 'presence-room' } });
    const here = JSON.parse((await subscribed(c, 'presence-room'))['data'] as string) as { presence: { ids: string[]; hash: Record<string, unknown> } };
    assert.deepEqual(here.presence.ids, ['alice']);
    assert.deepEqual(here.presence.hash, { alice: { name: 'Alice' } });
  } finally {
    for (const c of clients) c.close();
    await srv.close();
  }
});
