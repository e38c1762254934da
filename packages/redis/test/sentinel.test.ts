import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Recorder, waitFor } from '@switchboard/server/testing';
import { Redis } from 'ioredis';
import { createRedisEngine } from '../src/index.js';
import { freePort, RedisProcess } from './cluster.js';
import { redisAvailable } from './redis-env.js';

test('a redis+sentinel:// address finds the master through Sentinel', async (t) => {
  if (!(await redisAvailable())) return t.skip('no Redis here');
  const master = await RedisProcess.start();
  t.after(() => master.stop());
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sb-sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, `port ${port}\nbind 127.0.0.1\nprotected-mode no\nsentinel monitor sbmaster 127.0.0.1 ${master.port} 1\n`);
  const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  t.after(async () => {
    if (sentinel.exitCode === null) {
      const exited = new Promise((r) => sentinel.once('exit', r));
      sentinel.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  await waitFor(
    async () => {
      const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      c.on('error', () => {});
      try {
        await c.connect();
        const addr = (await c.call('SENTINEL', 'get-master-addr-by-name', 'sbmaster')) as string[] | null;
        return addr !== null && Number(addr[1]) === master.port;
      } catch {
        return false;
      } finally {
        c.disconnect();
      }
    },
    10_000,
    'the sentinel to know the master',
  );

  const engine = createRedisEngine({ addresses: `redis+sentinel://127.0.0.1:${port}/sbmaster`, prefix: 'sentinel' });
  t.after(async () => {
    await engine.broker.close();
    await engine.history.close();
    await engine.presence.close();
  });
  const rec = new Recorder();
  await engine.broker.start(rec);
  await engine.broker.subscribe('chat:s');
  const pos = await engine.broker.publish('chat:s', { data: '{"via":"sentinel"}' }, { history: { size: 10, ttlMs: 60_000 } });
  assert.equal(pos?.offset, 1);
  await waitFor(() => rec.pubs('chat:s').length === 1, 10_000, 'the publication');
  // it really is the master behind the sentinel that holds the stream
  const direct = new Redis({ host: '127.0.0.1', port: master.port });
  try {
    assert.equal(await direct.hget('sentinel.history.meta.{chat:s}', 's'), '1');
  } finally {
    direct.disconnect();
  }
});
