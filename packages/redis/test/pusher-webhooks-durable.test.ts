// Pusher webhooks survive their node on Redis: the app's webhook queue is journaled in the state
// store (one Redis stream per app webhook URL and node). Two nodes, the receiver down (nothing on its
// port), the node holding undelivered Pusher events SIGKILLed, then the receiver up: every event
// arrives, signed with the app secret (checked by the official `pusher` library), the dead node's
// backlog before what its reaped leaves send, and the journals drain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import PusherServer from 'pusher';
import { Redis } from 'ioredis';
import type { PresenceChannel } from 'pusher-js';
import { until } from '../../server/test/helpers.js';
import { APP, next, pusherClient, startPusher, type PusherClient, type PusherTestServer } from '../../server/test/pusher-helpers.js';
import { PusherWebhookBackend } from '../../server/test/pusher-webhook-backend.js';
import { createRedisEngine } from '../src/index.js';
import { ChildNode } from './pusher-child.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';
import { freePort } from './webhook-nodes.js';

const NODE_TTL_MS = 2000;
const LEAVE_DELAY_MS = 200;

/** Entries of the Pusher webhook journals (Redis streams) under `prefix`, per node id. */
async function journals(redis: Redis, prefix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let cursor = '0';
  do {
    const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}.state.*wh.pusher:${APP.id}:*.s.*`, 'COUNT', 1000);
    cursor = nextCursor;
    for (const k of keys) out.set(k.slice(k.lastIndexOf('.s.') + 3), await redis.xlen(k));
  } while (cursor !== '0');
  return out;
}

test('pusher on Redis, the receiver down and the node holding pending Pusher webhook events SIGKILLed: a survivor delivers every event once the receiver is up', { timeout: 150_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('pusher-hookdur');
  const [host, port] = REDIS_ADDRESS.split(':');
  const redis = new Redis({ host: host!, port: Number(port), maxRetriesPerRequest: 1 });
  const hookPort = await freePort();
  const url = `http://127.0.0.1:${hookPort}/pusher/webhooks`;
  const backend = new PusherWebhookBackend(() => new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1' }));
  const clients: PusherClient[] = [];
  const child = new ChildNode('k', prefix, url, NODE_TTL_MS, LEAVE_DELAY_MS);
  let S: PusherTestServer | undefined;
  t.after(async () => {
    for (const c of clients) c.disconnect();
    await child.kill();
    if (S) {
      await S.mount.close(1000);
      await S.close();
    }
    if (backend.server.listening) await backend.close();
    redis.disconnect();
    await dropPrefix(prefix);
  });
  // S survives (in this process), K (a child process) is SIGKILLed; both retry while the receiver is
  // down. S's periodic claim is off (1 min): what takes K's journal is the claim S makes when it
  // reaps K's entries, right before queueing the leaves they send.
  const srv = (S = await startPusher(
    { ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix, presenceTtlMs: 1500 }), name: 's', cluster: { nodeTtlMs: NODE_TTL_MS } },
    { ...APP, webhookLeaveDelayMs: LEAVE_DELAY_MS, webhooks: [{ url, lingerMs: 5, retry: { baseMs: 50, maxMs: 300, maxAttempts: 10_000 }, claimIntervalMs: 60_000 }] },
  ));
  await child.ready();
  const hook = () => srv.mount.webhooks.stats()[0]!;
  const join = async (port: number, user: string, channel: string) => {
    const c = pusherClient({ port } as PusherTestServer, { user });
    clients.push(c);
    const ch = c.subscribe(channel);
    await next((cb) => ch.bind('pusher:subscription_succeeded', cb), 10_000, `${user} in ${channel}`);
    return c;
  };

  // S: alice in presence-room (occupied, alice added: 2 events on S).
  const alice = await join(srv.port, 'alice', 'presence-room');
  // K: carol alone in presence-solo (occupied, carol added), dave in and out of room-k (occupied,
  // vacated after the leave delay), bob in presence-room (bob added) sending a client event: 6 on K.
  const carol = await join(child.port, 'carol', 'presence-solo');
  const dave = await join(child.port, 'dave', 'room-k');
  dave.unsubscribe('room-k');
  const bob = await join(child.port, 'bob', 'presence-room');
  const room = alice.channel('presence-room') as PresenceChannel;
  await until(() => room.members.count === 2, 10_000, 'alice sees bob');
  bob.channel('presence-room').trigger('client-hi', { from: 'bob' });
  const K_EVENTS = 6;
  let kId = '';
  await until(
    async () => {
      const j = await journals(redis, prefix);
      kId = [...j.keys()].find((id) => id !== srv.sb.id) ?? '';
      return j.get(srv.sb.id) === 2 && j.get(kId) === K_EVENTS;
    },
    20_000,
    "S's 2 and K's 6 Pusher webhook events journaled",
  );
  assert.equal(hook().delivered, 0, 'the receiver is down: nothing delivered');
  assert.ok(hook().failures > 0, 'delivery is failing');

  // K dies with its queue. S reaps K's members and channel, and claims K's journal first.
  await child.kill();
  for (const c of [bob, carol, dave]) c.disconnect();
  await until(() => hook().claimed === K_EVENTS && hook().queued + hook().inFlight === 2 + K_EVENTS + 3, NODE_TTL_MS * 15, "S claims K's journal and queues the reaped leaves");
  assert.equal(hook().deadLettered, 0);

  // The receiver comes up on the webhook's port.
  await backend.listen(hookPort);
  const ALL = 2 + K_EVENTS + 3;
  await until(() => backend.events.length >= ALL, 30_000, 'every Pusher webhook event');
  const show = (e: { name: string; channel: string; user_id?: string; event?: string }) => `${e.channel} ${e.name}${e.user_id !== undefined ? ` ${e.user_id}` : ''}${e.event !== undefined ? ` ${e.event}` : ''}`;
  // K killed before any delivery and S claiming atomically: no duplicate here (at least once in general, docs/protocols/pusher.md)
  assert.deepEqual(backend.events.map(show).sort(), [
    'presence-room channel_occupied',
    'presence-room client_event bob client-hi',
    'presence-room member_added alice',
    'presence-room member_added bob',
    'presence-room member_removed bob',
    'presence-solo channel_occupied',
    'presence-solo channel_vacated',
    'presence-solo member_added carol',
    'presence-solo member_removed carol',
    'room-k channel_occupied',
    'room-k channel_vacated',
  ]);
  const on = (ch: string) => backend.events.filter((e) => e.channel === ch).map(show);
  // S's own events first, then K's backlog in K's order, then what the reaped leaves send.
  assert.deepEqual(on('presence-solo'), ['presence-solo channel_occupied', 'presence-solo member_added carol', 'presence-solo member_removed carol', 'presence-solo channel_vacated']);
  assert.deepEqual(on('presence-room'), ['presence-room channel_occupied', 'presence-room member_added alice', 'presence-room member_added bob', 'presence-room client_event bob client-hi', 'presence-room member_removed bob']);
  assert.deepEqual(on('room-k'), ['room-k channel_occupied', 'room-k channel_vacated']);
  const hi = backend.named('client_event')[0]!;
  assert.deepEqual(JSON.parse(hi.data!), { from: 'bob' });
  assert.equal(backend.invalid, 0, 'every request signed with the app secret');
  assert.ok(backend.times.length > 0 && backend.times.every((ms) => Number.isFinite(ms) && ms > 0), 'time_ms on every request');
  // delivered means removed: the journals drain (K's stream is gone)
  await until(async () => [...(await journals(redis, prefix)).values()].every((n) => n === 0), 20_000, 'the journals to drain');
  assert.equal(hook().deadLettered, 0);

  // S's own member still leaves normally afterwards.
  alice.disconnect();
  await until(() => backend.named('channel_vacated', 'presence-room').length === 1, 10_000, 'presence-room vacated');
  assert.deepEqual(on('presence-room').slice(-2), ['presence-room member_removed alice', 'presence-room channel_vacated']);
  t.diagnostic(`requests ${backend.requests}, K was ${kId}`);
});
