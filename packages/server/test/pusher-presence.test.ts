import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { Channel, PresenceChannel } from 'pusher-js';
import { ReplyError } from '../src/index.js';
import { RawClient, SECRET, sdk, token, until } from './helpers.js';
import { APP, connectedOf, next, pusherClient, startPusher, type PusherTestServer } from './pusher-helpers.js';

// Claims of docs/protocols/pusher.md on presence and client events that had no test of their own.

type Frame = Record<string, unknown>;
const auth = (s: string) => `${APP.key}:${createHmac('sha256', APP.secret).update(s).digest('hex')}`;

async function raw(srv: PusherTestServer): Promise<{ c: RawClient; socketId: string }> {
  const c = new RawClient(`ws://127.0.0.1:${srv.port}/app/${APP.key}?protocol=7`);
  const hello = await c.next((m) => m['event'] === 'pusher:connection_established');
  return { c, socketId: (JSON.parse(hello['data'] as string) as { socket_id: string }).socket_id };
}

function joinPresence(r: { c: RawClient; socketId: string }, channel: string, member: unknown): void {
  const channelData = JSON.stringify(member);
  r.c.send({ event: 'pusher:subscribe', data: { auth: auth(`${r.socketId}:${channel}:${channelData}`), channel_data: channelData, channel } });
}

test('pusher presence: a numeric user_id stays a number, subscribing again adds no member, client events carry the sender\'s user_id, a refusing middleware gives 4301', { timeout: 30_000 }, async () => {
  const srv = await startPusher();
  // The core's pipeline sees client events: this middleware refuses one event name.
  srv.sb.use(async (ctx, go) => {
    if (ctx.kind === 'publish' && ctx.event === 'client-blocked') throw new ReplyError(103, 'blocked by middleware');
    await go();
  });
  const clients: RawClient[] = [];
  try {
    const a = await raw(srv);
    const b = await raw(srv);
    clients.push(a.c, b.c);
    joinPresence(a, 'presence-room', { user_id: 'alice', user_info: { name: 'Alice' } });
    await a.c.next((m) => m['event'] === 'pusher_internal:subscription_succeeded');
    // Laravel's numeric user ids: member_added keeps the number.
    joinPresence(b, 'presence-room', { user_id: 42, user_info: { name: 'Bob' } });
    await b.c.next((m) => m['event'] === 'pusher_internal:subscription_succeeded');
    const added = await a.c.next((m) => m['event'] === 'pusher_internal:member_added');
    assert.deepEqual(JSON.parse(added['data'] as string), { user_id: 42, user_info: { name: 'Bob' } });
    // Bob subscribes again: success again, and no second member_added at alice (a later event arrives first).
    joinPresence(b, 'presence-room', { user_id: 42, user_info: { name: 'Bob' } });
    const again = await b.c.next((m) => m['event'] === 'pusher_internal:subscription_succeeded');
    assert.equal((JSON.parse(again['data'] as string) as { presence: { count: number } }).presence.count, 2);
    // A client event from bob: alice gets it with bob's user_id at the top level.
    b.c.send({ event: 'client-typing', channel: 'presence-room', data: { on: true } });
    const typing = await a.c.next((m) => m['event'] === 'client-typing');
    assert.equal(typing['user_id'], 42);
    assert.deepEqual(JSON.parse(typing['data'] as string), { on: true });
    assert.equal(a.c.messages.filter((m) => (m as Frame)['event'] === 'pusher_internal:member_added').length, 0);
    // The middleware refuses client-blocked: 4301 with the channel, the event goes nowhere, the connection stays.
    b.c.send({ event: 'client-blocked', channel: 'presence-room', data: {} });
    const refused = await b.c.next((m) => m['event'] === 'pusher:error');
    assert.deepEqual(refused['data'], { code: 4301, message: 'blocked by middleware' });
    assert.equal(refused['channel'], 'presence-room');
    b.c.send({ event: 'client-after', channel: 'presence-room', data: {} });
    await a.c.next((m) => m['event'] === 'client-after');
    assert.equal(a.c.messages.filter((m) => (m as Frame)['event'] === 'client-blocked').length, 0);
  } finally {
    for (const c of clients) c.close();
    await srv.close();
  }
});

/** pusher-js makes every `presence-` channel a PresenceChannel (its channel factory), though subscribe() is typed Channel. */
function isPresence(c: Channel): c is PresenceChannel {
  return c.name.startsWith('presence-') && 'members' in c;
}

test('pusher presence: pusher-js sees the client event sender in metadata.user_id, and a centrifuge SDK client in the presence channel as a member', { timeout: 30_000 }, async () => {
  const srv = await startPusher({ token: { hmacSecret: SECRET }, namespaces: { pusher: { allowSubscribeForClient: true, allowPublishForSubscriber: true, presence: true, joinLeave: true } } });
  const a = pusherClient(srv, { user: 'alice' });
  const b = pusherClient(srv, { user: 'bob' });
  const cf = sdk(`ws://127.0.0.1:${srv.port}/connection/websocket`, { token: await token({ sub: 'carol', info: { name: 'Carol' } }) });
  try {
    await Promise.all([connectedOf(a), connectedOf(b)]);
    const pa = a.subscribe('presence-room');
    assert.ok(isPresence(pa), 'pusher-js made presence-room a presence channel');
    const pb = b.subscribe('presence-room');
    await Promise.all([next((cb) => pa.bind('pusher:subscription_succeeded', cb), 5000, 'a'), next((cb) => pb.bind('pusher:subscription_succeeded', cb), 5000, 'b')]);
    const got = next<{ data: unknown; meta: { user_id?: string } }>((cb) => pa.bind('client-typing', (data: unknown, meta: { user_id?: string }) => cb({ data, meta })), 5000, 'client-typing');
    assert.equal(pb.trigger('client-typing', { on: true }), true);
    const typing = await got;
    assert.deepEqual(typing.data, { on: true });
    assert.equal(typing.meta.user_id, 'bob');
    // The SDK client joins the presence channel (a subscription token: §17.2): a member to pusher-js, folded by its user.
    const added = next<{ id: string; info: unknown }>((cb) => pa.bind('pusher:member_added', cb), 5000, 'member_added for carol');
    const sub = cf.newSubscription('pusher:presence-room', { token: await token({ sub: 'carol', channel: 'pusher:presence-room' }) });
    sub.subscribe();
    cf.connect();
    assert.deepEqual(await added, { id: 'carol', info: { name: 'Carol' } });
    await until(() => pa.members.count === 3, 5000, 'three members');
    const removed = next<{ id: string }>((cb) => pa.bind('pusher:member_removed', cb), 5000, 'member_removed for carol');
    cf.disconnect();
    assert.equal((await removed).id, 'carol');
  } finally {
    a.disconnect();
    b.disconnect();
    cf.disconnect();
    await srv.close();
  }
});
