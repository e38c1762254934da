// Two Pusher nodes on one Redis; one in its own process is SIGKILLed. Once the dead node's lease
// lapses the survivor reaps its members: their member_removed webhooks and channel_vacated, and the
// Pusher clients on the survivor get pusher:member_removed (and watchers `offline`) for them, with
// or without webhooks; the survivor's own members are untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import PusherServer from 'pusher';
import { until } from '../../server/test/helpers.js';
import type { PresenceChannel } from 'pusher-js';
import { APP, next, pusherClient, startPusher, type PusherClient, type PusherTestServer } from '../../server/test/pusher-helpers.js';
import { PusherWebhookBackend } from '../../server/test/pusher-webhook-backend.js';
import { createRedisEngine } from '../src/index.js';
import { ChildNode } from './pusher-child.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

const NODE_TTL_MS = 2000;
const LEAVE_DELAY_MS = 200;

test('pusher on Redis, a node SIGKILLed: member_removed webhooks and channel_vacated for its members and channels, and pusher:member_removed to the survivor’s clients', { timeout: 150_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('pusher-crash');
  const backend = await new PusherWebhookBackend(() => new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1' })).listen();
  const clients: PusherClient[] = [];
  const child = new ChildNode('b', prefix, backend.url, NODE_TTL_MS, LEAVE_DELAY_MS);
  let A: PusherTestServer | undefined;
  t.after(async () => {
    for (const c of clients) c.disconnect();
    await child.kill();
    if (A) {
      await A.mount.close(1000);
      await A.close();
    }
    await backend.close();
    await dropPrefix(prefix);
  });
  A = await startPusher(
    { ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix, presenceTtlMs: 1500 }), name: 'a', cluster: { nodeTtlMs: NODE_TTL_MS } },
    { ...APP, webhookLeaveDelayMs: LEAVE_DELAY_MS, webhooks: [{ url: backend.url, lingerMs: 5 }] },
  );
  await child.ready();
  const join = async (port: number, user: string, channel: string) => {
    const c = pusherClient({ port } as PusherTestServer, { user });
    clients.push(c);
    const ch = c.subscribe(channel);
    await next((cb) => ch.bind('pusher:subscription_succeeded', cb), 10_000, `${user} in ${channel}`);
    return c;
  };
  // alice on the survivor; bob (same channel) and carol (a channel of her own) on the node that dies.
  const alice = await join(A.port, 'alice', 'presence-room');
  const bob = await join(child.port, 'bob', 'presence-room');
  const carol = await join(child.port, 'carol', 'presence-solo');
  await until(() => backend.named('member_added').length === 3 && backend.named('channel_occupied').length === 2, 10_000, 'three members, two channels');
  const room = alice.channel('presence-room') as PresenceChannel;
  await until(() => room.members.count === 2, 10_000, 'alice sees bob');
  const bobGone = next<{ id: string }>((cb) => room.bind('pusher:member_removed', cb), NODE_TTL_MS * 15, "bob's member_removed on alice's client");

  await child.kill();
  bob.disconnect(); // their node is gone: stop pusher-js retrying it
  carol.disconnect();
  await until(() => backend.named('member_removed').length === 2 && backend.named('channel_vacated').length === 1, NODE_TTL_MS * 15, "the dead node's members removed, its channel vacated");
  assert.deepEqual(backend.named('member_removed').map((e) => `${e.channel} ${e.user_id}`).sort(), ['presence-room bob', 'presence-solo carol']);
  assert.deepEqual(backend.named('channel_vacated').map((e) => e.channel), ['presence-solo']);
  // First arrivals: the killed node's journal may send again what the receiver already had (at
  // least once, docs/protocols/pusher.md: Pusher events carry no id to drop them by).
  const solo = [...new Set(backend.events.filter((e) => e.channel === 'presence-solo').map((e) => e.name))];
  assert.deepEqual(solo, ['channel_occupied', 'member_added', 'member_removed', 'channel_vacated'], 'member_removed before channel_vacated, as a live leave');
  assert.equal((await bobGone).id, 'bob');
  assert.equal(room.members.count, 1);
  // The shared presence no longer has him either: the HTTP API on the survivor lists alice alone.
  const users = (await (await A.api.get({ path: '/channels/presence-room/users' })).json()) as { users: { id: string }[] };
  assert.deepEqual(users.users, [{ id: 'alice' }]);

  // The survivor's member was not touched: her own leave is what removes her and vacates the room.
  alice.disconnect();
  await until(() => backend.named('member_removed').length === 3 && backend.named('channel_vacated').length === 2, 10_000, 'alice removed, room vacated');
  const hooks = backend.events.filter((e) => e.channel === 'presence-room').map((e) => `${e.name}${e.user_id ? ` ${e.user_id}` : ''}`);
  assert.equal(hooks.filter((e) => e === 'channel_occupied').length, 1);
  assert.equal(hooks.filter((e) => e === 'channel_vacated').length, 1);
  assert.equal(hooks.at(-1), 'channel_vacated');
  for (const user of ['alice', 'bob']) {
    assert.equal(hooks.filter((e) => e === `member_added ${user}`).length, 1, `${user} added once`);
    assert.equal(hooks.filter((e) => e === `member_removed ${user}`).length, 1, `${user} removed once`);
  }
  assert.equal(backend.invalid, 0);
});

test('pusher on Redis without webhooks, a node SIGKILLed: the survivor’s clients get pusher:member_removed, and watchers `offline`, for its users', { timeout: 150_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('pusher-crash-plain');
  const clients: PusherClient[] = [];
  const child = new ChildNode('b', prefix, '', NODE_TTL_MS, LEAVE_DELAY_MS);
  let A: PusherTestServer | undefined;
  t.after(async () => {
    for (const c of clients) c.disconnect();
    await child.kill();
    if (A) {
      await A.mount.close(1000);
      await A.close();
    }
    await dropPrefix(prefix);
  });
  A = await startPusher({ ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix, presenceTtlMs: 1500 }), name: 'a', cluster: { nodeTtlMs: NODE_TTL_MS } }, { ...APP, enableWatchlistEvents: true });
  await child.ready();
  const mk = (port: number, user: string, watchlist?: string[]) => {
    const c = pusherClient({ port } as PusherTestServer, { user, ...(watchlist ? { watchlist } : {}) });
    clients.push(c);
    return c;
  };
  // bob on the node that dies: signed in, in the room. alice on the survivor: in the room, watching bob.
  const bob = mk(child.port, 'bob');
  bob.signin();
  const bobRoom = bob.subscribe('presence-room');
  await next((cb) => bobRoom.bind('pusher:subscription_succeeded', cb), 10_000, 'bob in the room');
  const alice = mk(A.port, 'alice', ['bob']);
  const watch: string[] = [];
  alice.user.watchlist.bind('online', (e: { user_ids: string[] }) => watch.push(`online ${e.user_ids.join(',')}`));
  alice.user.watchlist.bind('offline', (e: { user_ids: string[] }) => watch.push(`offline ${e.user_ids.join(',')}`));
  alice.signin();
  const room = alice.subscribe('presence-room') as PresenceChannel;
  await next((cb) => room.bind('pusher:subscription_succeeded', cb), 10_000, 'alice in the room');
  await until(() => watch.length === 1, 10_000, 'the initial watchlist status');
  assert.deepEqual(watch, ['online bob']);
  assert.equal(room.members.count, 2);
  const bobGone = next<{ id: string }>((cb) => room.bind('pusher:member_removed', cb), NODE_TTL_MS * 15, "bob's member_removed");

  await child.kill();
  bob.disconnect();
  assert.equal((await bobGone).id, 'bob');
  await until(() => watch.length === 2, NODE_TTL_MS * 15, 'bob offline for his watcher');
  assert.deepEqual(watch, ['online bob', 'offline bob']);
  assert.equal(room.members.count, 1);
});
