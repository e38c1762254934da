import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@switchboard/server/testing';
import { Redis } from 'ioredis';
import { keySlot, RedisShards } from '../src/index.js';
import { freePort, NodeProcess, startNodes } from './cluster.js';
import { RedisClusterProcess } from '../scripts/redis-cluster.js';
import { redisAvailable, testPrefix } from './redis-env.js';
import { multiNodeScenario } from './scenario.js';
import { SdkClient } from './sdk.js';

// every test here starts its own Redis Cluster from redis-server on free ports and kills it at the end

test('three standalone nodes on a 3-master Redis Cluster behave as one server', async (t) => {
  if (!(await redisAvailable())) return t.skip('no Redis here');
  const cluster = await RedisClusterProcess.start(3, 0);
  t.after(() => cluster.stop());
  await multiNodeScenario(t, [], testPrefix('cl'), { clusterAddress: cluster.address });
  await t.test("a channel's keys and its pub/sub channel share one slot, on the master that serves it", async () => {
    const { master } = await cluster.owner(keySlot('{chat:cross}'));
    const c = new Redis({ host: '127.0.0.1', port: master.port });
    try {
      const keys = await c.keys('*{chat:cross}*');
      assert.ok(keys.some((k) => k.includes('.history.stream.')) && keys.some((k) => k.includes('.history.meta.')), keys.join(' '));
      for (const k of keys) assert.equal(Number(await c.call('CLUSTER', 'KEYSLOT', k)), keySlot('{chat:cross}'));
    } finally {
      c.disconnect();
    }
  });
});

test('a master killed mid-stream and its replica promoted: every acknowledged publication reaches every client in order, or the client is told to resync', async (t) => {
  if (!(await redisAvailable())) return t.skip('no Redis here');
  const cluster = await RedisClusterProcess.start(3, 1);
  t.after(() => cluster.stop());
  const ch = 'chat:failover';
  const slot = keySlot(`{${ch}}`);
  const { master } = await cluster.owner(slot);
  // the master's replica has caught up, so a failover can happen
  let replicaPort = 0;
  await waitFor(
    async () => {
      const c = new Redis({ host: '127.0.0.1', port: master.port, maxRetriesPerRequest: 0 });
      try {
        const info = await c.info('replication');
        const m = /slave0:ip=[^,]+,port=(\d+),state=online/.exec(info);
        replicaPort = m ? Number(m[1]) : 0;
        return replicaPort > 0;
      } finally {
        c.disconnect();
      }
    },
    20_000,
    'the replica of the channel master to be online',
  );
  const replica = cluster.nodes.find((n) => n.port === replicaPort)!;
  const [a, b] = await startNodes({ addresses: [], clusterAddress: cluster.address, prefix: testPrefix('fo'), presenceTtlMs: 3000 }, ['A', 'B']);
  const clients: SdkClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await Promise.all([a!.stop(), b!.stop()]);
  });
  for (const node of [a!, a!, b!, b!]) {
    const c = await SdkClient.connect(node.ws, `u${clients.length}`);
    clients.push(c);
    await c.subscribe(ch);
  }

  const acked: number[] = [];
  const failed: number[] = [];
  let seq = 0;
  let stop = false;
  const publishing = (async () => {
    while (!stop) {
      const i = ++seq;
      try {
        await (i % 2 ? a! : b!).api('publish', { channel: ch, data: { i } });
        acked.push(i);
      } catch {
        failed.push(i);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  })();
  await waitFor(() => acked.length >= 30, 20_000, '30 publications before the failover');
  await cluster.kill(master);
  const killedAt = seq;
  await waitFor(() => cluster.isMaster(replica), 30_000, 'the replica to be promoted');
  await waitFor(() => acked.filter((i) => i > killedAt).length >= 30, 30_000, '30 publications acknowledged after the failover');
  stop = true;
  await publishing;
  const last = acked[acked.length - 1]!;
  const received = (c: SdkClient) => c.pubs(ch).map((p) => (p.data as { i: number }).i);
  const told = (c: SdkClient) => c.subs.get(ch)!.subscribed.some((s) => s.wasRecovering && !s.recovered);
  // A publication a client missed is excused only if the client was told to resync (subscribed again
  // with recovered false) after the last publication it did receive before the missed one.
  const unexcused = (c: SdkClient, upTo: number): number[] => {
    const timeline = c.subs.get(ch)!.timeline;
    const got = new Set(received(c));
    return acked.filter((i) => {
      if (i > upTo || got.has(i)) return false;
      let lastBefore = -1;
      timeline.forEach((e, k) => {
        if ('pub' in e && (e.pub.data as { i: number }).i < i) lastBefore = k;
      });
      return !timeline.some((e, k) => k > lastBefore && 'subscribed' in e && e.subscribed.wasRecovering && !e.subscribed.recovered);
    });
  };
  // a node marks a subscriber for resync at once but pushes it on its next keepalive tick, while
  // live publications keep arriving: wait until every acknowledged publication arrived or is excused
  for (const c of clients) {
    await waitFor(() => unexcused(c, last).length === 0, 20_000, 'every acknowledged publication, or the client told to resync after missing it');
  }
  // live again: publish on until every client has the three publications before the newest
  const tail: number[] = [];
  await waitFor(
    async () => {
      const i = ++seq;
      await (i % 2 ? a! : b!).api('publish', { channel: ch, data: { i } });
      acked.push(i);
      tail.push(i);
      const want = tail.slice(-4, -1);
      return want.length === 3 && clients.every((c) => want.every((x) => received(c).includes(x)));
    },
    30_000,
    'every client to receive publications again',
  );
  for (const c of clients) {
    const got = received(c);
    for (let k = 1; k < got.length; k++) assert.ok(got[k]! > got[k - 1]!, `in order: ${got.join(',')}`);
    // a publication whose publisher got an error may still have been applied: only what was never published is foreign
    assert.ok(got.every((i) => acked.includes(i) || failed.includes(i)), 'only published data arrives');
    const missed = unexcused(c, tail[tail.length - 2]!);
    assert.deepEqual(missed, [], `missed ${missed.join(',')} without being told afterwards`);
  }
  t.diagnostic(`acknowledged ${acked.length}, failed ${failed.length}; clients told to resync: ${clients.filter(told).length} of ${clients.length}`);
});

test('an unreachable Redis Cluster: a clear error from the engine and from switchboard serve', async (t) => {
  if (!(await redisAvailable())) return t.skip('no Redis here');
  const port = await freePort(); // nothing listens there
  const shards = new RedisShards({ clusterAddresses: `127.0.0.1:${port}` });
  await assert.rejects(shards.ready(), new RegExp(`Redis Cluster at 127\\.0\\.0\\.1:${port} is unreachable`));
  await shards.acquire().release();

  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'sb-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const serve = (redis: Record<string, unknown>) => {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ engine: { type: 'redis', redis }, http_api: { key: 'k' }, client: { token: { hmac_secret_key: 'secret' } } }));
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SWITCHBOARD_')) env[k] = v;
    return spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', join(root, 'apps/server/src/cli.ts'), 'serve', '--config', file, '--port', '0', '--address', '127.0.0.1'], {
      cwd: root,
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
  };
  const down = serve({ cluster_address: [`127.0.0.1:${port}`] });
  assert.notEqual(down.status, 0);
  assert.match(down.stderr + down.stdout, new RegExp(`Redis Cluster at 127\\.0\\.0\\.1:${port} is unreachable`));
  assert.match(down.stderr + down.stdout, /engine\.redis\.cluster_address/);
  const both = serve({ address: '127.0.0.1:6379', cluster_address: `127.0.0.1:${port}` });
  assert.equal(both.status, 2, both.stderr);
  assert.match(both.stderr, /engine\.redis\.cluster_address: give engine\.redis\.address .* not both/);
});

test('a dead seed listed among live ones: the engine and switchboard serve start through the live seeds and work', async (t) => {
  if (!(await redisAvailable())) return t.skip('no Redis here');
  const cluster = await RedisClusterProcess.start(3, 0);
  t.after(() => cluster.stop());
  const dead = `127.0.0.1:${await freePort()}`; // nothing listens there
  const live = cluster.nodes[0]!;
  // one live seed and a dead one listed first (the client may try seeds in any order)
  const seeds = `${dead},127.0.0.1:${live.port}`;
  const shards = new RedisShards({ clusterAddresses: seeds });
  try {
    await shards.ready();
  } finally {
    await shards.acquire().release();
  }

  const [a] = await startNodes({ addresses: [], clusterAddress: seeds, prefix: testPrefix('deadseed') }, ['A']);
  const [b] = await startNodes({ addresses: [], clusterAddress: `${dead},${cluster.address}`, prefix: a!.options.prefix }, ['B']);
  const clients: SdkClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await Promise.all([a!.stop(), b!.stop()]);
  });
  const c = await SdkClient.connect(a!.ws, 'u');
  clients.push(c);
  await c.subscribe('chat:seeds');
  for (let i = 1; i <= 10; i++) await b!.api('publish', { channel: 'chat:seeds', data: { i } });
  await waitFor(() => c.pubs('chat:seeds').length === 10, 15_000, '10 publications from B on A');
  assert.deepEqual(
    c.pubs('chat:seeds').map((p) => p.offset),
    Array.from({ length: 10 }, (_, i) => i + 1),
  );
  // a channel on each master: every shard is reached through the topology the live seeds gave
  const masters = new Set<number>();
  for (let k = 0; masters.size < 3 && k < 200; k++) {
    const ch = `chat:spread${k}`;
    const { master } = await cluster.owner(keySlot(`{${ch}}`));
    if (masters.has(master.port)) continue;
    masters.add(master.port);
    const pos = await a!.api<{ offset: number; epoch: string }>('publish', { channel: ch, data: { k } });
    assert.equal(pos.offset, 1, `a publication with history on the master at ${master.port}`);
  }
  assert.equal(masters.size, 3, 'a channel on each master');
});

test('a Redis Cluster without sharded pub/sub (SPUBLISH, as before Redis 7) is refused by the engine and by switchboard serve', async (t) => {
  if (!(await redisAvailable())) return t.skip('no Redis here');
  // a real cluster whose nodes do not know SPUBLISH: COMMAND INFO SPUBLISH answers nil, as Redis 6 does
  const cluster = await RedisClusterProcess.start(3, 0, ['--rename-command', 'SPUBLISH', '""']);
  t.after(() => cluster.stop());
  const shards = new RedisShards({ clusterAddresses: cluster.address });
  try {
    await assert.rejects(shards.ready(), /Redis Cluster at .*: sharded pub\/sub \(SPUBLISH, Redis 7 or later\) is required/);
  } finally {
    await shards.acquire().release();
  }
  const node = new NodeProcess({ name: 'OLD', addresses: [], clusterAddress: cluster.address, prefix: testPrefix('nospub') });
  t.after(() => node.kill());
  await waitFor(() => node.proc.exitCode !== null, 90_000, 'the node to exit');
  assert.notEqual(node.proc.exitCode, 0);
  assert.match(node.output, /sharded pub\/sub \(SPUBLISH, Redis 7 or later\) is required/);
});
