import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { until } from '../../server/test/helpers.js';
import { APP, connectedOf, next, pusherClient, startPusher, type PusherClient, type PusherTestServer } from '../../server/test/pusher-helpers.js';
import { createRedisEngine } from '../src/index.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

/** Two Pusher nodes on one Redis (a fresh prefix), closed with their clients after the test; `mk` opens a signed-in client on one. */
async function twoNodes(t: TestContext, tag: string, app?: Parameters<typeof startPusher>[1]) {
  const prefix = testPrefix(tag);
  const nodes: PusherTestServer[] = [];
  const clients: PusherClient[] = [];
  t.after(async () => {
    for (const c of clients) c.disconnect();
    for (const n of nodes) await n.close();
    await dropPrefix(prefix);
  });
  for (const name of ['a', 'b']) nodes.push(await startPusher({ ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix, presenceTtlMs: 5000 }), name }, app));
  const [A, B] = nodes as [PusherTestServer, PusherTestServer];
  const mk = (srv: PusherTestServer, user?: string) => {
    const c = pusherClient(srv, user === undefined ? undefined : { user });
    clients.push(c);
    return c;
  };
  return { A, B, mk };
}

// Two nodes on one Redis: Pusher presence is folded by user across nodes, and the HTTP API on one
// node excludes a socket connected to the other.

test('pusher on two nodes over Redis: presence folded by user across nodes, socket_id exclusion across nodes', { timeout: 40_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const { A, B, mk } = await twoNodes(t, 'pusher');
  const alice = mk(A, 'alice');
  const pa = alice.subscribe('presence-room');
  assert.equal((await next<{ count: number }>((cb) => pa.bind('pusher:subscription_succeeded', cb))).count, 1);
  const added = next<{ id: string }>((cb) => pa.bind('pusher:member_added', cb), 10_000, 'member_added across nodes');
  const bobB = mk(B, 'bob');
  const pb = bobB.subscribe('presence-room');
  assert.equal((await next<{ count: number }>((cb) => pb.bind('pusher:subscription_succeeded', cb))).count, 2);
  assert.equal((await added).id, 'bob');
  // Bob again, on node A: still two members everywhere, no second member_added.
  let extra = 0;
  pa.bind('pusher:member_added', () => extra++);
  const bobA = mk(A, 'bob');
  const pb2 = bobA.subscribe('presence-room');
  assert.equal((await next<{ count: number }>((cb) => pb2.bind('pusher:subscription_succeeded', cb))).count, 2);
  const users = (await (await B.api.get({ path: '/channels/presence-room/users' })).json()) as { users: { id: string }[] };
  assert.deepEqual(users.users.map((u) => u.id).sort(), ['alice', 'bob']);
  // The HTTP API on node B excludes alice's socket on node A; bob (on B) gets the event.
  let aliceGot = false;
  pa.bind('ping', () => (aliceGot = true));
  const bobGot = next((cb) => pb.bind('ping', cb), 10_000, 'bob ping');
  await B.api.trigger('presence-room', 'ping', {}, { socket_id: alice.connection.socket_id });
  await bobGot;
  const later = next((cb) => pa.bind('later', cb), 10_000, 'alice later');
  await B.api.trigger('presence-room', 'later', {});
  await later;
  assert.equal(aliceGot, false);
  // Bob leaves node B: bob is still in (node A). Bob leaves node A: member_removed at alice.
  let removedEarly = false;
  const onRemoved = () => (removedEarly = true);
  pa.bind('pusher:member_removed', onRemoved);
  bobB.disconnect();
  await until(async () => (await A.sb.presenceStore.get('pusher:presence-room')).size === 2, 10_000, 'bob on B gone');
  assert.equal(removedEarly, false);
  pa.unbind('pusher:member_removed', onRemoved);
  const removed = next<{ id: string }>((cb) => pa.bind('pusher:member_removed', cb), 10_000, 'member_removed');
  bobA.disconnect();
  assert.equal((await removed).id, 'bob');
  assert.equal(extra, 0);
});

test('pusher on two nodes over Redis: sendToUser through one node reaches the user on the other; terminate_connections through one closes the user on both with 4009', { timeout: 40_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const { A, B, mk } = await twoNodes(t, 'pusher-users');
  const [aliceA, aliceB, bobB] = [mk(A, 'alice'), mk(B, 'alice'), mk(B, 'bob')];
  await Promise.all([aliceA, aliceB, bobB].map((c) => connectedOf(c)));
  for (const c of [aliceA, aliceB, bobB]) c.signin();
  const userChannel = (u: string) => `pusher:#server-to-user-${u}`;
  await until(async () => (await A.sb.presenceStore.get(userChannel('alice'))).size === 2 && (await A.sb.presenceStore.get(userChannel('bob'))).size === 1, 10_000, 'signed in on both nodes');
  // An event to alice through node A reaches her connection on node B too.
  const got = [aliceA, aliceB].map((c) => next<unknown>((cb) => c.user.bind('notify', cb), 10_000, 'user event'));
  await A.api.sendToUser('alice', 'notify', { n: 1 });
  assert.deepEqual(await Promise.all(got), [{ n: 1 }, { n: 1 }]);
  // terminate_connections through node B closes alice on A and on B; bob stays.
  const codes = [aliceA, aliceB].map((c) => next<{ data?: { code?: number } }>((cb) => c.connection.bind('error', cb), 10_000, 'terminated'));
  assert.equal((await B.api.terminateUserConnections('alice')).status, 200);
  for (const e of await Promise.all(codes)) assert.equal(e.data?.code, 4009);
  await until(() => aliceA.connection.state === 'disconnected' && aliceB.connection.state === 'disconnected', 10_000, 'alice disconnected on both');
  const still = next((cb) => bobB.user.bind('still', cb), 10_000, 'bob still served');
  await A.api.sendToUser('bob', 'still', {});
  await still;
  assert.equal(bobB.connection.state, 'connected');
});

test('pusher on two nodes over Redis: subscription_count to clients counts the subscribers of both nodes', { timeout: 40_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const { A, B, mk } = await twoNodes(t, 'pusher-count', { ...APP, enableSubscriptionCount: true });
  const countOf = (ch: ReturnType<PusherClient['subscribe']>, n: number, what: string) =>
    next<{ subscription_count: number }>((cb) => ch.bind('pusher:subscription_count', (d: { subscription_count: number }) => d.subscription_count === n && cb(d)), 15_000, what);
  const a = mk(A);
  const ca = a.subscribe('live');
  await countOf(ca, 1, 'a sees 1');
  // A subscriber on node B: both see 2 (node A learns it from its periodic survey of the nodes).
  const b = mk(B);
  const cb2 = b.subscribe('live');
  await Promise.all([countOf(ca, 2, 'a (node A) sees 2'), countOf(cb2, 2, 'b (node B) sees 2')]);
  // B's subscriber leaves: A's sees 1 again.
  const back = countOf(ca, 1, 'a sees 1 again');
  b.disconnect();
  await back;
});
