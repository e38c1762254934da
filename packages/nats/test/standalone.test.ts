import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '@switchboard/server/testing';
import { Redis } from 'ioredis';
import { connect, headers } from 'nats';
import { finish } from '../../../apps/server/src/config.js';
import { startNodes } from '../../redis/test/cluster.js';
import { dropPrefix as dropRedisPrefix, REDIS_ADDRESS, redisAvailable } from '../../redis/test/redis-env.js';
import { dropPrefix, NATS_URL, natsAvailable, testPrefix } from './nats-env.js';

const base = { client: { token: { hmac_secret_key: 'k' } }, http_api: { key: 'k' } };

test('standalone config: engine.nats, and consumers of type redis_stream and nats_jetstream', () => {
  const c = finish({ ...base, engine: { type: 'nats', nats: { url: 'nats://n1:4222', presence_ttl: '30s' } } }, {});
  assert.deepEqual(c.engine.nats, { url: 'nats://n1:4222', prefix: 'switchboard', dial_timeout: 1000, write_timeout: 1000, history: 'jetstream', presence: 'jetstream', presence_ttl: 30_000 });
  // environment variables by the usual rule
  const e = finish({ ...base, engine: { type: 'nats' } }, { SWITCHBOARD_ENGINE_NATS_URL: 'nats://env:4222', SWITCHBOARD_ENGINE_NATS_PREFIX: 'app1' });
  assert.equal(e.engine.nats.url, 'nats://env:4222');
  assert.equal(e.engine.nats.prefix, 'app1');
  assert.throws(() => finish({ ...base, engine: { type: 'nats', nats: { url: 'http://x' } } }, {}), /engine\.nats\.url: bad NATS URL "http:\/\/x"/);
  assert.throws(() => finish({ ...base, engine: { type: 'nats', nats: { prefix: 'a.b' } } }, {}), /engine\.nats\.prefix: "a\.b": letters, digits/);
  assert.throws(() => finish({ ...base, engine: { type: 'nats', nats: { history: 'redis' } } }, {}), /engine\.nats\.history/);
  // what NATS without JetStream history cannot do is refused at startup
  const ns = { channel: { namespaces: [{ name: 'chat', history_size: 10, history_ttl: '60s' }] } };
  assert.throws(() => finish({ ...base, ...ns, engine: { type: 'nats', nats: { history: 'none' } } }, {}), /channel\.namespaces\[0\]\.history_size: history needs engine\.nats\.history "jetstream"/);
  assert.throws(() => finish({ ...base, engine: { type: 'nats', nats: { presence: 'redis' } } }, {}), /engine\.redis\.address: required with engine\.nats\.presence "redis"/);

  const consumers = [
    { name: 'rs', enabled: true, type: 'redis_stream', redis_stream: { address: '127.0.0.1:6379', streams: ['a', 'b'], consumer_group: 'g', visibility_timeout: '5s' } },
    { name: 'js', enabled: true, type: 'nats_jetstream', nats_jetstream: { url: 'nats://h:4222', stream_name: 'S', subjects: ['s.1'], durable_consumer_name: 'd', method_header: 'centrifugo-method' } },
  ];
  const k = finish({ ...base, consumers }, {});
  assert.equal(k.consumers[0]!.redis_stream.visibility_timeout, 5000);
  assert.equal(k.consumers[0]!.redis_stream.payload_value, 'payload');
  assert.equal(k.consumers[0]!.redis_stream.method_value, 'method');
  assert.equal(k.consumers[1]!.nats_jetstream.visibility_timeout, 30_000);
  const env = finish(base, { SWITCHBOARD_CONSUMERS: JSON.stringify(consumers) });
  assert.deepEqual(env.consumers[1]!.nats_jetstream.subjects, ['s.1'], 'SWITCHBOARD_CONSUMERS as JSON');
  assert.throws(() => finish({ ...base, consumers: [{ name: 'x', enabled: true, type: 'redis_stream', redis_stream: {} }] }, {}), /consumers\[0\]\.redis_stream\.address: required/);
  assert.throws(() => finish({ ...base, consumers: [{ name: 'x', enabled: true, type: 'redis_stream', redis_stream: { address: 'h:1', consumer_group: 'g' } }] }, {}), /consumers\[0\]\.redis_stream\.streams: can't be empty/);
  assert.throws(() => finish({ ...base, consumers: [{ name: 'x', enabled: true, type: 'nats_jetstream', nats_jetstream: { durable_consumer_name: 'd' } }] }, {}), /consumers\[0\]\.nats_jetstream\.stream_name: required/);
  assert.throws(
    () => finish({ ...base, consumers: [{ name: 'x', enabled: true, type: 'nats_jetstream', nats_jetstream: { stream_name: 's', durable_consumer_name: 'd', publication_data_mode: { enabled: true } } }] }, {}),
    /consumers\[0\]\.nats_jetstream\.publication_data_mode\.enabled: not supported/,
  );
});

test('standalone: two nodes on NATS consume a Redis Stream and a JetStream stream; each command applied once, in order per partition', { timeout: 300_000 }, async (t) => {
  if (!(await natsAvailable())) return t.skip(`no NATS at ${NATS_URL}`);
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('sa');
  const redis = new Redis(REDIS_ADDRESS);
  const nc = await connect({ servers: NATS_URL });
  t.after(async () => {
    redis.disconnect();
    await nc.close();
    await dropPrefix(prefix);
    await dropRedisPrefix(prefix);
  });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: `${prefix}_commands`, subjects: [`${prefix}.commands.*`] });
  const streams = [`${prefix}.rs.0`, `${prefix}.rs.1`];
  const subjects = [`${prefix}.commands.0`, `${prefix}.commands.1`];
  const consumers = [
    { name: 'rs', enabled: true, type: 'redis_stream', redis_stream: { address: REDIS_ADDRESS, streams, consumer_group: 'switchboard', visibility_timeout: '2s' } },
    {
      name: 'js',
      enabled: true,
      type: 'nats_jetstream',
      nats_jetstream: { url: NATS_URL, stream_name: `${prefix}_commands`, subjects, durable_consumer_name: 'switchboard', method_header: 'centrifugo-method', visibility_timeout: '2s' },
    },
  ];
  const engine = { type: 'nats', nats: { url: NATS_URL, prefix, presence_ttl: '5s' } };
  const [a, b] = await startNodes({ addresses: [], prefix: '', engine, extra: { consumers } }, ['A', 'B']);
  t.after(() => Promise.all([a!.stop(), b!.stop()]));
  const js = nc.jetstream();
  const per = 25;
  for (let i = 1; i <= per; i++) {
    for (const p of [0, 1]) {
      await redis.xadd(streams[p]!, '*', 'method', 'publish', 'payload', JSON.stringify({ channel: `chat:rs-${p}`, data: { i } }));
      const h = headers();
      h.set('centrifugo-method', 'publish');
      await js.publish(subjects[p]!, new TextEncoder().encode(JSON.stringify({ channel: `chat:js-${p}`, data: { i } })), { headers: h });
    }
    if (i === 10) {
      await redis.xadd(streams[0]!, '*', 'method', 'publish', 'payload', '{broken');
      await js.publish(subjects[0]!, new TextEncoder().encode('{broken'));
    }
  }
  for (const ch of ['chat:rs-0', 'chat:rs-1', 'chat:js-0', 'chat:js-1']) {
    const read = async () => (await b!.api<{ publications: { data: { i: number }; offset: number }[] }>('history', { channel: ch, limit: -1 })).publications;
    await waitFor(async () => (await read()).length >= per, 20_000, `${per} publications in ${ch}`);
    const got = await read();
    assert.deepEqual(got.map((p) => p.data.i), Array.from({ length: per }, (_, k) => k + 1), `${ch}: every command once, in order`);
  }
  assert.match(a!.output + b!.output, /skipping a malformed message/, 'the malformed messages were logged');
});
