import { type TestContext, test } from 'node:test';
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

type App = Parameters<typeof startPusher>[1];

/**
 * A webhook backend and Pusher nodes `a` and `b` on one Redis prefix, serving `app(backendUrl)`;
 * `join` subscribes a new pusher-js client of `user` to `channel` on a node. Everything is closed
 * after the test.
 */
async function twoNodes(t: TestContext, name: string, app: (url: string) => App, node: { presenceTtlMs: number; cluster?: { nodeTtlMs: number } } = { presenceTtlMs: 5000 }) {
  const prefix = testPrefix(name);
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
  const served = app(backend.url);
  for (const n of ['a', 'b']) {
    const engine = createRedisEngine({ addresses: [REDIS_ADDRESS], prefix, presenceTtlMs: node.presenceTtlMs });
    nodes.push(await startPusher({ ...engine, name: n, ...(node.cluster ? { cluster: node.cluster } : {}) }, served));
  }
  const [A, B] = nodes as [PusherTestServer, PusherTestServer];
  const join = async (srv: PusherTestServer, user: string, channel: string) => {
    const c = pusherClient(srv, { user });
    clients.push(c);
    const ch = c.subscribe(channel);
    await next((cb) => ch.bind('pusher:subscription_succeeded', cb), 10_000, `${user} in ${channel}`);
    return c;
  };
  return { backend, A, B, join };
}

test('pusher webhooks on two nodes over Redis: occupied/vacated and member_added/removed exactly once across the cluster', { timeout: 60_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const { backend, A, B, join } = await twoNodes(t, 'pusher-hooks', (url) => ({ ...APP, webhooks: [{ url, lingerMs: 5 }] }));
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
  // A wide window (Pusher's is 3 s) so that the move below lands inside it however slow the machine.
  const { backend, A, B, join } = await twoNodes(t, 'pusher-hooks-debounce', (url) => ({ ...APP, webhookLeaveDelayMs: 5000, webhooks: [{ url, lingerMs: 5 }] }));
  const alice = (srv: PusherTestServer) => join(srv, 'alice', 'presence-room');
  const onA = await alice(A);
  await until(() => backend.named('member_added').length === 1 && backend.named('channel_occupied').length === 1, 10_000, 'occupied, alice added');
  // Node A's connection goes; the user reconnects through node B (a load balancer's choice).
  onA.disconnect();
  const onB = await alice(B);
  onB.disconnect();
  await until(() => backend.named('member_removed').length === 1 && backend.named('channel_vacated').length === 1, 20_000, 'alice removed, vacated');
  assert.deepEqual(backend.events.map((e) => e.name).sort(), ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed']);
  assert.equal(backend.invalid, 0);
});

test('pusher webhooks on two nodes over Redis: a node shut down gracefully leaves its members to the survivor, so a user who moves over sends nothing', { timeout: 60_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const { backend, A, B, join } = await twoNodes(t, 'pusher-hooks-restart', (url) => ({ ...APP, webhooks: [{ url, lingerMs: 5 }] }), { presenceTtlMs: 1500, cluster: { nodeTtlMs: 2000 } });
  const alice = (srv: PusherTestServer) => join(srv, 'alice', 'presence-room');
  const onA = await alice(A);
  await until(() => backend.named('member_added').length === 1 && backend.named('channel_occupied').length === 1, 10_000, 'occupied, alice added');
  // Node A shuts down as the standalone server does (the node, then the mount); its client reconnects through B.
  await A.sb.shutdown({ timeoutMs: 1000 });
  await A.mount.close(1000);
  onA.disconnect();
  const onB = await alice(B);
  // A's lease lapses and B reaps A's entries: alice is still there through B, so nothing is sent.
  // Then she leaves B: removed and vacated, once.
  onB.disconnect();
  await until(() => backend.named('member_removed').length === 1 && backend.named('channel_vacated').length === 1, 30_000, 'alice removed, vacated');
  assert.deepEqual(backend.events.map((e) => e.name).sort(), ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed']);
  assert.equal(backend.invalid, 0);
});

test('pusher webhooks on two nodes over Redis: subscription_count counts the subscribers of both nodes', { timeout: 60_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const { backend, A, B, join } = await twoNodes(t, 'pusher-hooks-count', (url) => ({ ...APP, enableSubscriptionCount: true, webhookLeaveDelayMs: 0, webhooks: [{ url, lingerMs: 5, events: ['subscription_count' as const] }] }));
  const counts = () => backend.named('subscription_count', 'counted').map((e) => (e as unknown as { subscription_count: number }).subscription_count);
  const subscribe = (srv: PusherTestServer, user: string) => join(srv, user, 'counted');
  await subscribe(A, 'alice');
  await until(() => counts().length === 1, 10_000, 'count from node A');
  const bob = await subscribe(B, 'bob');
  await until(() => counts().length === 2, 10_000, 'count from node B');
  bob.disconnect();
  await until(() => counts().length === 3, 10_000, 'count after bob left node B');
  assert.deepEqual(counts(), [1, 2, 1]);
  assert.equal(backend.invalid, 0);
});
