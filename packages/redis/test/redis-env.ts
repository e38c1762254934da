import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

export const REDIS_ADDRESS = process.env['SWITCHBOARD_TEST_REDIS'] ?? '127.0.0.1:6379';

/** A key prefix no other test run uses. */
export function testPrefix(tag = 't'): string {
  return `sbtest-${tag}-${randomUUID().slice(0, 8)}`;
}

/**
 * Whether the test Redis answers. Under CI a missing Redis is a failure (the suite must not pass
 * by skipping); elsewhere the caller skips with a message.
 */
export async function redisAvailable(address = REDIS_ADDRESS): Promise<boolean> {
  const [host, port] = address.split(':');
  const c = new Redis({ host: host!, port: Number(port), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.ping();
    return true;
  } catch {
    if (process.env['CI'] === 'true') throw new Error(`Redis is required under CI and is not reachable at ${address}`);
    return false;
  } finally {
    c.disconnect();
  }
}

/** Deletes every key under `prefix` on the given Redis. */
export async function dropPrefix(prefix: string, address = REDIS_ADDRESS): Promise<void> {
  const [host, port] = address.split(':');
  const c = new Redis({ host: host!, port: Number(port), maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {});
  try {
    let cursor = '0';
    do {
      const [next, found] = await c.scan(cursor, 'MATCH', `${prefix}.*`, 'COUNT', 1000);
      cursor = next;
      if (found.length > 0) await c.del(...found);
    } while (cursor !== '0');
  } catch {
    // the Redis is gone (a test that stopped it): nothing to clean
  } finally {
    c.disconnect();
  }
}
