// The webhook queue survives its node on Redis: see durableWebhookScenario (webhook-nodes.ts). The
// journals are Redis streams; the test checks they drain.
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';
import { durableWebhookScenario, WebhookNode } from './webhook-nodes.js';

/** Entries left in the webhook journals (Redis streams) under `prefix`. */
async function journalEntries(redis: Redis, prefix: string): Promise<number> {
  let total = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}.state.*wh.*.s.*`, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) total += await redis.xlen(k);
  } while (cursor !== '0');
  return total;
}

test('Redis: a node SIGKILLed with undelivered webhook events: a survivor claims its journal and delivers every event once the receiver is up', async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('hookdur');
  const [host, port] = REDIS_ADDRESS.split(':');
  const redis = new Redis({ host: host!, port: Number(port), maxRetriesPerRequest: 1 });
  t.after(async () => {
    redis.disconnect();
    await dropPrefix(prefix);
  });
  await durableWebhookScenario(t, { node: (name, url, env) => new WebhookNode(name, prefix, url, env), journalEntries: () => journalEntries(redis, prefix) });
});
