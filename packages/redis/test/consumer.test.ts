import { test } from 'node:test';
import { consumerConformance } from '@switchboard/server/testing';
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
