import assert from 'node:assert/strict';
import { test } from 'node:test';
import { consumerConformance, waitFor } from '@switchboard/server/testing';
import { Redis } from 'ioredis';
import { RedisStreamConsumer } from '../src/index.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

const available = await redisAvailable();
if (!available) {
  test('Redis Stream consumer', (t) => t.skip(`no Redis at ${REDIS_ADDRESS}`));
} else {
  consumerConformance('redis_stream', async () => {
    const prefix = testPrefix('consumer');
    const streams = [0, 1, 2].map((i) => `${prefix}.commands.${i}`);
    const writer = new Redis(REDIS_ADDRESS);
    const made: RedisStreamConsumer[] = [];
    return {
      partitions: streams,
      async write(stream, data, method) {
        if (method !== undefined) await writer.xadd(stream, '*', 'method', method, 'payload', data);
        else await writer.xadd(stream, '*', 'payload', data);
      },
      async writeEmpty(stream) {
        await writer.xadd(stream, '*', 'something', 'else');
      },
      async consumer({ name, execute, logger }) {
        const c = new RedisStreamConsumer({ name, execute, logger, address: REDIS_ADDRESS, streams, consumerGroup: 'switchboard', visibilityTimeoutMs: 1500 });
        made.push(c);
        await c.start();
        return c;
      },
      async close() {
        writer.disconnect();
        await dropPrefix(prefix);
      },
    };
  });
}

test('Redis Stream consumer: streams are shared out between nodes; a late node gets its share, and a closing one hands its streams back', async (t) => {
  if (!available) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('share');
  const streams = [0, 1, 2, 3].map((i) => `${prefix}.s.${i}`);
  const redis = new Redis(REDIS_ADDRESS);
  const execute = () => Promise.resolve({});
  const a = new RedisStreamConsumer({ name: 'a', execute, address: REDIS_ADDRESS, streams, consumerGroup: 'g', visibilityTimeoutMs: 1500 });
  const b = new RedisStreamConsumer({ name: 'b', execute, address: REDIS_ADDRESS, streams, consumerGroup: 'g', visibilityTimeoutMs: 1500 });
  t.after(async () => {
    await Promise.all([a.close(), b.close()]);
    redis.disconnect();
    await dropPrefix(prefix);
  });
  const holders = async () => Promise.all(streams.map((s) => redis.get(`${s}:g:lease`)));
  await a.start();
  await waitFor(async () => (await holders()).every((h) => h !== null), 10_000, 'the first node to take every stream');
  const first = (await holders())[0];
  assert.ok((await holders()).every((h) => h === first), 'alone, one node holds all four streams');
  await b.start();
  await waitFor(
    async () => {
      const h = await holders();
      return h.every((x) => x !== null) && h.filter((x) => x === first).length === 2;
    },
    10_000,
    'two streams each',
  );
  await a.close();
  await waitFor(async () => (await holders()).every((h) => h !== null && h !== first), 10_000, 'the other node to hold every stream after the first closed');
});
