import { test } from 'node:test';
import assert from 'node:assert/strict';
import PusherServer from 'pusher';
import { until } from '../../server/test/helpers.js';
import { APP, next, pusherClient, startPusher, type PusherClient, type PusherTestServer } from '../../server/test/pusher-helpers.js';
import { PusherWebhookBackend } from '../../server/test/pusher-webhook-backend.js';
import { createRedisEngine } from '../src/index.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

// Two nodes on one Redis, each with the app's Pusher webhook: channel_occupied once when the first
// subscriber anywhere arrives, channel_vacated once when the last anywhere leaves, members once per
// user across the nodes, while clients come and go on both.

test('pusher webhooks on two nodes over Redis: occupied/vacated and member_added/removed exactly once across the cluster', { timeout: 60_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('pusher-hooks');
  const backend = await new PusherWebhookBackend(() => new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1' })).listen();
  const nodes: PusherTestServer[] = [];
  const clients: PusherClient[] = [];
  t.after(async () => {
    for (const c of clients) c.disconnect();
    for (const n of nodes) {
      await n.mount.close(1000);
      await n.close();
    }
    await backend.close();
    await dropPrefix(prefix);
  });
  const app = { ...APP, webhooks: [{ url: backend.url, lingerMs: 5 }] };
  for (const name of ['a', 'b']) nodes.push(await startPusher({ ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix, presenceTtlMs: 5000 }), name }, app));
  const [A, B] = nodes as [PusherTestServer, PusherTestServer];
  const join = async (srv: PusherTestServer, user: string, channel: string) => {
    const c = pusherClient(srv, { user });
    clients.push(c);
    const ch = c.subscribe(channel);
    await next((cb) => ch.bind('pusher:subscription_succeeded', cb), 10_000, `${user} in ${channel}`);
    return c;
  };
  const rounds = 3;
  for (let r = 1; r <= rounds; r++) {
    // Four connections over both nodes join at once, alice on both nodes; then they leave in turns.
    const joined = await Promise.all([join(A, 'alice', 'presence-room'), join(B, 'alice', 'presence-room'), join(B, 'bob', 'presence-room'), join(A, 'carol', 'presence-room')]);
    await until(() => backend.named('member_added').length === 3 * r && backend.named('channel_occupied', 'presence-room').length === r, 10_000, `round ${r}: occupied, three members added`);
    for (const c of joined) c.disconnect();
    await until(() => backend.named('channel_vacated', 'presence-room').length === r, 15_000, `round ${r}: vacated`);
  }
  // Let any straggler arrive, then count: exactly one of each per round, alternating.
  await until(() => backend.named('member_removed').length === 3 * rounds, 10_000, 'every member removed');
  const existence = backend.events.filter((e) => e.name === 'channel_occupied' || e.name === 'channel_vacated').map((e) => e.name);
  assert.deepEqual(existence, Array.from({ length: rounds }, () => ['channel_occupied', 'channel_vacated']).flat());
  for (const user of ['alice', 'bob', 'carol']) {
    assert.equal(backend.named('member_added').filter((e) => e.user_id === user).length, rounds, `${user} added once per round`);
    assert.equal(backend.named('member_removed').filter((e) => e.user_id === user).length, rounds, `${user} removed once per round`);
  }
  assert.equal(backend.invalid, 0);
});

test('pusher webhooks on two nodes over Redis: a user who leaves one node and comes back on the other within the leave delay sends nothing', { timeout: 60_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('pusher-hooks-debounce');
  const backend = await new PusherWebhookBackend(() => new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1' })).listen();
  const nodes: PusherTestServer[] = [];
  const clients: PusherClient[] = [];
  t.after(async () => {
    for (const c of clients) c.disconnect();
    for (const n of nodes) {
      await n.mount.close(1000);
      await n.close();
    }
    await backend.close();
    await dropPrefix(prefix);
  });
  // A wide window (Pusher's is 3 s) so that the move below lands inside it however slow the machine.
  const app = { ...APP, webhookLeaveDelayMs: 5000, webhooks: [{ url: backend.url, lingerMs: 5 }] };
  for (const name of ['a', 'b']) nodes.push(await startPusher({ ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix, presenceTtlMs: 5000 }), name }, app));
  const [A, B] = nodes as [PusherTestServer, PusherTestServer];
  const join = async (srv: PusherTestServer) => {
    const c = pusherClient(srv, { user: 'alice' });
    clients.push(c);
    const ch = c.subscribe('presence-room');
    await next((cb) => ch.bind('pusher:subscription_succeeded', cb), 10_000, 'alice in presence-room');
    return c;
  };
  const onA = await join(A);
  await until(() => backend.named('member_added').length === 1 && backend.named('channel_occupied').length === 1, 10_000, 'occupied, alice added');
  // Node A's connection goes; the user reconnects through node B (a load balancer's choice).
  onA.disconnect();
  const onB = await join(B);
  onB.disconnect();
  await until(() => backend.named('member_removed').length === 1 && backend.named('channel_vacated').length === 1, 20_000, 'alice removed, vacated');
  assert.deepEqual(backend.events.map((e) => e.name).sort(), ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed']);
  assert.equal(backend.invalid, 0);
});

test('pusher webhooks on two nodes over Redis: a node shut down gracefully leaves its members to the survivor, so a user who moves over sends nothing', { timeout: 60_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('pusher-hooks-restart');
  const backend = await new PusherWebhookBackend(() => new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1' })).listen();
  const nodes: PusherTestServer[] = [];
  const clients: PusherClient[] = [];
  t.after(async () => {
    for (const c of clients) c.disconnect();
    for (const n of nodes) {
      await n.mount.close(1000);
      await n.close();
    }
    await backend.close();
    await dropPrefix(prefix);
  });
  const app = { ...APP, webhooks: [{ url: backend.url, lingerMs: 5 }] };
  for (const name of ['a', 'b']) nodes.push(await startPusher({ ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix, presenceTtlMs: 1500 }), name, cluster: { nodeTtlMs: 2000 } }, app));
  const [A, B] = nodes as [PusherTestServer, PusherTestServer];
  const join = async (srv: PusherTestServer) => {
    const c = pusherClient(srv, { user: 'alice' });
    clients.push(c);
    const ch = c.subscribe('presence-room');
    await next((cb) => ch.bind('pusher:subscription_succeeded', cb), 10_000, 'alice in presence-room');
    return c;
  };
  const onA = await join(A);
  await until(() => backend.named('member_added').length === 1 && backend.named('channel_occupied').length === 1, 10_000, 'occupied, alice added');
  // Node A shuts down as the standalone server does (the node, then the mount); its client reconnects through B.
  await A.sb.shutdown({ timeoutMs: 1000 });
  await A.mount.close(1000);
  onA.disconnect();
  const onB = await join(B);
  // A's lease lapses and B reaps A's entries: alice is still there through B, so nothing is sent.
  // Then she leaves B: removed and vacated, once.
  onB.disconnect();
  await until(() => backend.named('member_removed').length === 1 && backend.named('channel_vacated').length === 1, 30_000, 'alice removed, vacated');
  assert.deepEqual(backend.events.map((e) => e.name).sort(), ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed']);
  assert.equal(backend.invalid, 0);
});

test('pusher webhooks on two nodes over Redis: subscription_count counts the subscribers of both nodes', { timeout: 60_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('pusher-hooks-count');
  const backend = await new PusherWebhookBackend(() => new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1' })).listen();
  const nodes: PusherTestServer[] = [];
  const clients: PusherClient[] = [];
  t.after(async () => {
    for (const c of clients) c.disconnect();
    for (const n of nodes) {
      await n.mount.close(1000);
      await n.close();
    }
    await backend.close();
    await dropPrefix(prefix);
  });
  const app = { ...APP, enableSubscriptionCount: true, webhookLeaveDelayMs: 0, webhooks: [{ url: backend.url, lingerMs: 5, events: ['subscription_count' as const] }] };
  for (const name of ['a', 'b']) nodes.push(await startPusher({ ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix, presenceTtlMs: 5000 }), name }, app));
  const [A, B] = nodes as [PusherTestServer, PusherTestServer];
  const counts = () => backend.named('subscription_count', 'counted').map((e) => (e as unknown as { subscription_count: number }).subscription_count);
  const join = async (srv: PusherTestServer, user: string) => {
    const c = pusherClient(srv, { user });
    clients.push(c);
    const ch = c.subscribe('counted');
    await next((cb) => ch.bind('pusher:subscription_succeeded', cb), 10_000, `${user} subscribed`);
    return c;
  };
  await join(A, 'alice');
  await until(() => counts().length === 1, 10_000, 'count from node A');
  const bob = await join(B, 'bob');
  await until(() => counts().length === 2, 10_000, 'count from node B');
  bob.disconnect();
  await until(() => counts().length === 3, 10_000, 'count after bob left node B');
  assert.deepEqual(counts(), [1, 2, 1]);
  assert.equal(backend.invalid, 0);
});
