import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '@switchboard/server/testing';
import { Redis } from 'ioredis';
import { keySlot } from '../src/index.js';
import { startNodes } from './cluster.js';
import { RedisClusterProcess } from '../scripts/redis-cluster.js';
import { assertNoSilentLoss, publisher } from './no-silent-loss.js';
import { redisAvailable, testPrefix } from './redis-env.js';
import { SdkClient } from './sdk.js';

// starts its own Redis Cluster from redis-server on free ports and kills it at the end

/** A plain connection to one cluster node (no redirects followed: the test talks to the node it means). */
function direct(port: number): Redis {
  const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {});
  return c;
}

test("a channel's slot migrated to another master while nodes are subscribed and publishing: every acknowledged publication reaches every client in order, or the client is told to resync", async (t) => {
  if (!(await redisAvailable())) return t.skip('no Redis here');
  const cluster = await RedisClusterProcess.start(3, 0);
  t.after(() => cluster.stop());
  const ch = 'chat:reshard';
  const slot = keySlot(`{${ch}}`);
  const { master: source } = await cluster.owner(slot);
  const target = cluster.nodes.find((n) => n !== source)!;
  const prefix = testPrefix('rs');
  const rch = `${prefix}.client.{${ch}}`;
  const nodes = await startNodes({ addresses: [], clusterAddress: cluster.address, prefix }, ['A', 'B', 'C']);
  const clients: SdkClient[] = [];
  const conns = new Map<number, Redis>();
  const on = (port: number): Redis => {
    let c = conns.get(port);
    if (c === undefined) conns.set(port, (c = direct(port)));
    return c;
  };
  t.after(async () => {
    for (const c of conns.values()) c.disconnect();
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.stop()));
  });
  for (const node of [...nodes, nodes[0]!]) {
    const c = await SdkClient.connect(node.ws, `u${clients.length}`);
    clients.push(c);
    await c.subscribe(ch);
  }
  const subscribersOn = async (port: number) => Number(((await on(port).call('PUBSUB', 'SHARDNUMSUB', rch)) as [string, number])[1]);
  assert.equal(await subscribersOn(source.port), 3, 'each node subscribed on the master that owns the slot');

  const { acked, failed, publish } = publisher(nodes, ch);
  const received = (c: SdkClient) => c.pubs(ch).map((p) => (p.data as { i: number }).i);
  const told = (c: SdkClient) => c.subs.get(ch)!.subscribed.some((s) => s.wasRecovering && !s.recovered);
  let stop = false;
  let attempts = 0;
  const publishing = (async () => {
    while (!stop) {
      await publish();
      attempts++;
    }
  })();
  const ackedSince = (n: number) => waitFor(() => acked.length >= n, 30_000, `${n} acknowledged publications`);
  try {
    await ackedSince(20);
    // the steps of `redis-cli --cluster reshard` for one slot, with publications going on between them
    const id = async (port: number) => String(await on(port).call('CLUSTER', 'MYID'));
    const sourceId = await id(source.port);
    const targetId = await id(target.port);
    await on(target.port).call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId);
    await on(source.port).call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId);
    // migrating, keys still on the source: served there
    await ackedSince(acked.length + 10);
    const keysLeft = async () => (await on(source.port).call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
    const all = await keysLeft();
    assert.ok(all.includes(`${prefix}.history.stream.{${ch}}`) && all.includes(`${prefix}.history.meta.{${ch}}`), all.join(' '));
    const migrate = (ks: string[]) => on(source.port).call('MIGRATE', '127.0.0.1', target.port, '', 0, 5000, 'KEYS', ...ks);
    // the stream moves first, its meta hash stays behind: the append script's keys are split (TRYAGAIN)
    await migrate([`${prefix}.history.stream.{${ch}}`]);
    const splitAt = attempts;
    await waitFor(() => attempts >= splitAt + 2, 30_000, 'publications attempted while the keys are split');
    assert.ok(failed.length > 0, 'a publication made while the keys are split is rejected to its publisher');
    for (let ks = await keysLeft(); ks.length > 0; ks = await keysLeft()) await migrate(ks);
    // every key on the target, the slot still the source's: scripts run on the target after ASK,
    // their SPUBLISH reaches nobody (subscribers are on the source until the slot is handed over)
    await ackedSince(acked.length + 10);
    const handedAt = acked.length;
    for (const n of [target, source, ...cluster.nodes.filter((x) => x !== source && x !== target)]) {
      await on(n.port).call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId);
    }
    assert.equal((await cluster.owner(slot)).master, target);
    // the source ended the subscriptions of the slot it gave away: every node subscribes on the target
    await waitFor(async () => (await subscribersOn(target.port)) === 3, 30_000, 'every node subscribed on the new master');
    assert.equal(await subscribersOn(source.port), 0);
    await ackedSince(handedAt + 30);
    // the node cannot tell a slot given away from a master that rejoined as a replica after a
    // failover (both end the subscriptions): it changes the epoch as after a failover, so every
    // client is told to resync (recovered false)
    await waitFor(() => clients.every(told), 30_000, 'every client to be told to resync');
  } finally {
    stop = true;
    await publishing;
  }
  // live again: publish on until every client has the three publications before the newest, then the newest
  const tail: number[] = [];
  await waitFor(
    async () => {
      if (await publish()) tail.push(acked[acked.length - 1]!);
      const want = tail.slice(-4, -1);
      return want.length === 3 && clients.every((c) => want.every((x) => received(c).includes(x)));
    },
    30_000,
    'every client to receive publications again',
  );
  const last = acked[acked.length - 1]!;
  for (const c of clients) await waitFor(() => received(c).includes(last), 10_000, 'every client to get the last acknowledged publication');
  for (const c of clients) assertNoSilentLoss(c, ch, acked, last);
  const keys = (await on(target.port).call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
  assert.ok(keys.includes(`${prefix}.history.stream.{${ch}}`), 'the history lives on the new master');
  t.diagnostic(`acknowledged ${acked.length}, failed ${failed.length} (rejected to the publisher while the keys were split)`);
});
