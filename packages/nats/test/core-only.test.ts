import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '@switchboard/server/testing';
import { NodeProcess, startNodes } from '../../redis/test/cluster.js';
import { SdkClient } from '../../redis/test/sdk.js';
import { createNatsEngine } from '../src/index.js';
import { natsAvailable, testPrefix } from './nats-env.js';
import { NatsProcess } from './nats-process.js';

// one nats-server of the test's own, started without JetStream (core NATS only)
test('a NATS without JetStream: refused where JetStream is needed, a core-only cluster (history "none", presence in Redis) works on it', { timeout: 300_000 }, async (t) => {
  if (!(await natsAvailable())) return t.skip('no NATS here');
  const nats = await NatsProcess.start({ jetstream: false });
  t.after(() => nats.destroy());

  await t.test('the engine with JetStream history or presence rejects ready() with the reason', async () => {
    for (const parts of [{}, { history: false }, { presence: false }]) {
      const e = createNatsEngine({ servers: nats.url, prefix: testPrefix('nojs'), ...parts });
      try {
        await assert.rejects(e.ready(), (err: Error) => {
          assert.equal(err.name, 'NatsEngineError');
          assert.match(err.message, new RegExp(`NATS at ${nats.url.replace(/[.]/g, '\\.')} has no JetStream .*start nats-server with -js, or keep history and presence elsewhere`));
          return true;
        });
      } finally {
        await e.close();
      }
    }
    // core only: ready
    const core = createNatsEngine({ servers: nats.url, prefix: testPrefix('core'), history: false, presence: false });
    try {
      await core.ready();
      assert.equal(core.history, undefined);
      assert.equal(core.presence, undefined);
    } finally {
      await core.close();
    }
  });

  await t.test('switchboard serve with JetStream history (the default) stops at start with that message', async (t) => {
    const node = new NodeProcess({ name: 'NJ', addresses: [], prefix: '', engine: { type: 'nats', nats: { url: nats.url, prefix: testPrefix('nojs') } } });
    t.after(() => node.kill());
    await waitFor(() => node.proc.exitCode !== null, 90_000, 'the node to exit');
    assert.notEqual(node.proc.exitCode, 0);
    assert.match(node.output, /has no JetStream/);
    assert.match(node.output, /start nats-server with -js/);
  });

  await t.test('two standalone nodes on core NATS with presence in Redis: cross-node publish and presence', async (t) => {
    const { REDIS_ADDRESS, redisAvailable, dropPrefix: dropRedisPrefix } = await import('../../redis/test/redis-env.js');
    if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
    const prefix = testPrefix('core');
    const engine = {
      type: 'nats',
      nats: { url: nats.url, prefix, history: 'none', presence: 'redis', presence_ttl: '1500ms' },
      redis: { address: REDIS_ADDRESS, prefix },
    };
    const [a, b] = await startNodes({ addresses: [], prefix: '', engine, history: false }, ['A', 'B']);
    const clients: SdkClient[] = [];
    t.after(async () => {
      for (const c of clients) c.close();
      await Promise.all([a!.stop(), b!.stop()]);
      await dropRedisPrefix(prefix);
    });
    const client = async (node: NodeProcess, user: string) => {
      const c = await SdkClient.connect(node.ws, user);
      clients.push(c);
      return c;
    };
    const onA = await client(a!, 'ua');
    const onB = await client(b!, 'ub');
    await onA.subscribe('chat:core');
    await onB.subscribe('chat:core');
    for (let i = 1; i <= 20; i++) await (i % 2 ? b! : a!).api('publish', { channel: 'chat:core', data: { i } });
    for (const c of [onA, onB]) {
      await waitFor(() => c.pubs('chat:core').length === 20, 15_000, '20 publications on each node');
      assert.deepEqual(
        c.pubs('chat:core').map((p) => p.data),
        Array.from({ length: 20 }, (_, i) => ({ i: i + 1 })),
        'every publication, in order, from both nodes',
      );
      assert.ok(c.pubs('chat:core').every((p) => !p.offset), 'no offsets without history');
    }
    const pr = await b!.api<{ presence: Record<string, { user: string }> }>('presence', { channel: 'chat:core' });
    assert.deepEqual(Object.values(pr.presence).map((e) => e.user).sort(), ['ua', 'ub']);
    assert.deepEqual(await a!.api('presence_stats', { channel: 'chat:core' }), { num_clients: 2, num_users: 2 });
    onB.close();
    await waitFor(async () => (await a!.api<{ num_clients: number }>('presence_stats', { channel: 'chat:core' })).num_clients === 1, 10_000, 'ub to leave presence');
  });
});
