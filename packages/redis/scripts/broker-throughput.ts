/**
 * Raw RedisBroker throughput across two brokers (two nodes' worth of connections), one channel,
 * with and without history: what the Redis engine itself sustains, without clients.
 *
 *   node --conditions=source --import tsx packages/redis/scripts/broker-throughput.ts [redis-address] [publications]
 */
import { randomUUID } from 'node:crypto';
import { Recorder } from '@switchboard/server/testing';
import { Redis } from 'ioredis';
import { RedisBroker, RedisShards } from '../src/index.js';

export async function brokerThroughput(address = '127.0.0.1:6379', n = 20_000, inFlight = 64): Promise<{ withoutHistory: number; withHistory: number }> {
  const prefix = `bench-${randomUUID().slice(0, 8)}`;
  const a = new RedisBroker({ shards: new RedisShards({ addresses: [address], prefix }) });
  const b = new RedisBroker({ shards: new RedisShards({ addresses: [address], prefix }) });
  const rec = new Recorder();
  await a.start(rec);
  await b.start(new Recorder());
  await a.subscribe('ch');
  const out = { withoutHistory: 0, withHistory: 0 };
  try {
    for (const hist of [false, true]) {
      rec.events.length = 0;
      let sent = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (sent < n) {
            sent++;
            await b.publish('ch', { data: '{"x":1}' }, hist ? { history: { size: 100, ttlMs: 60_000 } } : undefined);
          }
        }),
      );
      while (rec.events.length < n) await new Promise((r) => setTimeout(r, 1));
      out[hist ? 'withHistory' : 'withoutHistory'] = Math.round(n / ((performance.now() - t0) / 1000));
    }
  } finally {
    await a.close();
    await b.close();
    const c = new Redis(address);
    const keys = await c.keys(`${prefix}.*`);
    if (keys.length > 0) await c.del(...keys);
    c.disconnect();
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [address = '127.0.0.1:6379', n = '20000'] = process.argv.slice(2);
  process.stdout.write(`${JSON.stringify({ publicationsPerSecond: await brokerThroughput(address, Number(n)) })}\n`);
}
