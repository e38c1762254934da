import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { waitFor } from '@switchboard/server/testing';
import { Balancer, type NodeProcess, startNodes } from './cluster.js';
import { SdkClient } from './sdk.js';

export const PRESENCE_TTL_MS = 1500;

/**
 * Three nodes in separate processes sharing Redis (one address or several shards), or another engine: what must
 * hold for them to behave as one server.
 */
export async function multiNodeScenario(t: TestContext, addresses: string[], prefix: string, opts: { registryExpiry?: boolean; engine?: Record<string, unknown>; clusterAddress?: string } = {}): Promise<void> {
  const cluster = opts.clusterAddress !== undefined ? { clusterAddress: opts.clusterAddress } : {};
  const [a, b, c] = await startNodes({ addresses, prefix, presenceTtlMs: PRESENCE_TTL_MS, ...cluster, ...(opts.engine ? { engine: opts.engine } : {}) }, ['A', 'B', 'C']);
  const nodes = [a!, b!, c!];
  const clients: SdkClient[] = [];
  const balancer = await new Balancer().listen();
  t.after(async () => {
    for (const cl of clients) cl.close();
    await balancer.close();
    await Promise.all(nodes.map((n) => n.stop()));
  });
  const client = async (node: NodeProcess | Balancer, user: string) => {
    const cl = await SdkClient.connect(node.ws, user);
    clients.push(cl);
    return cl;
  };

  await t.test('info and channels on one node report every node', async () => {
    await waitFor(async () => (await c!.api<{ nodes: { name: string }[] }>('info')).nodes.length === 3, 10_000, 'three nodes in info');
    const names = (await c!.api<{ nodes: { name: string }[] }>('info')).nodes.map((n) => n.name).sort();
    assert.deepEqual(names, ['A', 'B', 'C']);
    const ca = await client(a!, 'ch-a');
    const cb = await client(b!, 'ch-b');
    await ca.subscribe('chat:survey');
    await cb.subscribe('chat:survey');
    const chs = await c!.api<{ channels: Record<string, { num_clients: number }> }>('channels');
    assert.equal(chs.channels['chat:survey']?.num_clients, 2, 'subscribers counted across nodes');
  });

  await t.test("a centrifuge SDK client on A receives what B's API publishes, in order", async () => {
    const cl = await client(a!, 'u1');
    await cl.subscribe('chat:cross');
    for (let i = 1; i <= 20; i++) await b!.api('publish', { channel: 'chat:cross', data: { i } });
    await waitFor(() => cl.pubs('chat:cross').length === 20, 10_000, '20 publications on A');
    assert.deepEqual(
      cl.pubs('chat:cross').map((p) => p.data),
      Array.from({ length: 20 }, (_, i) => ({ i: i + 1 })),
    );
    assert.deepEqual(
      cl.pubs('chat:cross').map((p) => p.offset),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });

  await t.test('presence and presence stats on C list the clients of A and B', async () => {
    const pa1 = await client(a!, 'pa');
    const pa2 = await client(a!, 'pa');
    const pb = await client(b!, 'pb');
    for (const cl of [pa1, pa2, pb]) await cl.subscribe('chat:presence');
    const pr = await c!.api<{ presence: Record<string, { user: string }> }>('presence', { channel: 'chat:presence' });
    assert.deepEqual(Object.values(pr.presence).map((e) => e.user).sort(), ['pa', 'pa', 'pb']);
    assert.deepEqual(await c!.api('presence_stats', { channel: 'chat:presence' }), { num_clients: 3, num_users: 2 });
    // a refresh cycle later (several TTLs), live clients are still there
    await new Promise((r) => setTimeout(r, PRESENCE_TTL_MS * 2));
    assert.deepEqual(await c!.api('presence_stats', { channel: 'chat:presence' }), { num_clients: 3, num_users: 2 });
    pb.close();
    await waitFor(async () => (await c!.api<{ num_clients: number }>('presence_stats', { channel: 'chat:presence' })).num_clients === 2, 10_000, 'pb to leave');
  });

  await t.test('a client that leaves A and comes back on B recovers what it missed, in order, recovered true', async () => {
    balancer.route(a!.port);
    const cl = await client(balancer, 'mover');
    await cl.subscribe('chat:move');
    await c!.api('publish', { channel: 'chat:move', data: { i: 1 } });
    await waitFor(() => cl.pubs('chat:move').length === 1, 10_000, 'the first publication');
    balancer.route(undefined); // A is unreachable: the client is cut off and cannot reconnect
    await waitFor(() => cl.state !== 'connected', 10_000, 'the client to notice');
    for (let i = 2; i <= 6; i++) await c!.api('publish', { channel: 'chat:move', data: { i } });
    balancer.route(b!.port);
    const rec = cl.subs.get('chat:move')!;
    await waitFor(() => rec.subscribed.length === 2, 10_000, 'the resubscribe on B');
    assert.deepEqual(rec.subscribed[1], { wasRecovering: true, recovered: true });
    await waitFor(() => cl.pubs('chat:move').length === 6, 10_000, 'the missed publications');
    assert.deepEqual(
      cl.pubs('chat:move').map((p) => p.data),
      [1, 2, 3, 4, 5, 6].map((i) => ({ i })),
    );
    assert.deepEqual(
      cl.pubs('chat:move').map((p) => p.offset),
      [1, 2, 3, 4, 5, 6],
    );
    await c!.api('publish', { channel: 'chat:move', data: { i: 7 } });
    await waitFor(() => cl.pubs('chat:move').length === 7, 10_000, 'live delivery on B');
  });

  await t.test("server-side subscribe and unsubscribe of a user through C reach its connections on A and B", async () => {
    const sa = await client(a!, 'srv');
    const sb = await client(b!, 'srv');
    const other = await client(a!, 'not-srv');
    await c!.api('subscribe', { user: 'srv', channel: 'chat:srv' });
    await waitFor(() => sa.serverSubs.has('chat:srv') && sb.serverSubs.has('chat:srv'), 10_000, 'both connections to be subscribed');
    await c!.api('publish', { channel: 'chat:srv', data: { hello: 1 } });
    await waitFor(() => sa.serverSubs.get('chat:srv')!.length === 1 && sb.serverSubs.get('chat:srv')!.length === 1, 10_000, 'the publication on both');
    assert.equal(other.serverSubs.has('chat:srv'), false);
    await c!.api('unsubscribe', { user: 'srv', channel: 'chat:srv' });
    await waitFor(() => sa.serverUnsubs.includes('chat:srv') && sb.serverUnsubs.includes('chat:srv'), 10_000, 'both connections to be unsubscribed');
  });

  await t.test("a user disconnected through C's API loses its connections on A and B", async () => {
    const da = await client(a!, 'bye');
    const db = await client(b!, 'bye');
    const other = await client(a!, 'stay');
    await c!.api('disconnect', { user: 'bye' });
    await waitFor(() => da.disconnects.length > 0 && db.disconnects.length > 0, 10_000, 'both connections to close');
    assert.equal(da.disconnects[0]!.code, 3503);
    assert.equal(db.disconnects[0]!.code, 3503);
    assert.equal(other.state, 'connected');
  });

  await t.test('SIGKILL on B: its clients leave presence within the presence TTL', async () => {
    const ka = await client(a!, 'ka');
    const kb = await client(b!, 'kb');
    await ka.subscribe('chat:kill');
    await kb.subscribe('chat:kill');
    const users = async () => Object.values((await c!.api<{ presence: Record<string, { user: string }> }>('presence', { channel: 'chat:kill' })).presence).map((e) => e.user).sort();
    assert.deepEqual(await users(), ['ka', 'kb']);
    await b!.kill('SIGKILL');
    kb.close();
    await waitFor(async () => !(await users()).includes('kb'), PRESENCE_TTL_MS * 3, "B's client to expire from presence");
    assert.deepEqual(await users(), ['ka']);
    // the registry forgets a silent node after 15 s: checked once, not in every variant
    if (opts.registryExpiry) await waitFor(async () => (await c!.api<{ nodes: unknown[] }>('info')).nodes.length === 2, 20_000, 'B to leave the node registry');
  });
}
