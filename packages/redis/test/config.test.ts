import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWithEnv } from '@switchboard/config';
import { parseAddress, redisConfigSection, redisEngineFromConfig, RedisShards } from '../src/index.js';
import { REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

test('addresses: host:port, URLs, sentinel; bad ones get a clear error', () => {
  assert.deepEqual(parseAddress('127.0.0.1:6380'), { host: '127.0.0.1', port: 6380 });
  assert.deepEqual(parseAddress('redis'), { host: 'redis', port: 6379 });
  assert.deepEqual(parseAddress('redis://:pw@h:7000/2'), { host: 'h', port: 7000, password: 'pw', db: 2 });
  assert.equal(parseAddress('rediss://h:7000').tls !== undefined, true);
  const s = parseAddress('redis+sentinel://s1:26379,s2:26380/mymaster');
  assert.deepEqual(s.sentinels, [
    { host: 's1', port: 26379 },
    { host: 's2', port: 26380 },
  ]);
  assert.equal(s.name, 'mymaster');
  assert.throws(() => parseAddress('redis+sentinel://s1:26379'), /master name/);
  assert.throws(() => parseAddress('not an address!'), /bad Redis address/);
  assert.throws(() => parseAddress(''), /empty/);
  const shards = new RedisShards({ addresses: '127.0.0.1:1, 127.0.0.1:2' });
  assert.equal(shards.size, 2);
  for (const c of shards.clients) c.disconnect();
});

test('durations as in the config (the one parser of @switchboard/server, through the section schema)', () => {
  const ttl = (presence_ttl: unknown) => {
    const r = parseWithEnv(redisConfigSection.schema, { presence_ttl }, {}, ['engine', 'redis']);
    return r.ok ? r.value.presence_ttl : r.issues.map((i) => `${i.key}: ${i.message}`).join('\n');
  };
  assert.equal(ttl('60s'), 60_000);
  assert.equal(ttl('1m30s'), 90_000);
  assert.equal(ttl('1500ms'), 1500);
  assert.equal(ttl(undefined), 60_000, 'default "60s"');
  assert.match(String(ttl('soon')), /^engine\.redis\.presence_ttl: expected a duration string, got string "soon"/);
  assert.match(String(ttl(1500)), /^engine\.redis\.presence_ttl: expected a duration string, got number 1500/);
  assert.match(String(ttl('250ms')), /^engine\.redis\.presence_ttl: at least "1s"/);
});

test('engine.redis config section: required address, env override, presence refresh within the TTL', async (t) => {
  assert.throws(() => redisEngineFromConfig({}, {}), /engine.redis.address: required/);
  assert.throws(() => redisEngineFromConfig({ address: REDIS_ADDRESS, presence_ttl: '10ms' }, {}), /at least/);
  if (!(await redisAvailable())) return t.skip('no Redis');
  const e = redisEngineFromConfig({ address: 'unused:1', prefix: testPrefix('cfg'), presence_ttl: '3s' }, { SWITCHBOARD_ENGINE_REDIS_ADDRESS: REDIS_ADDRESS });
  try {
    assert.equal(e.options.presenceRefreshMs, 1000);
    await e.options.history!.position('chat:x');
    assert.equal(await e.ready(), true);
  } finally {
    await e.close();
  }
  const d = redisEngineFromConfig({ address: [REDIS_ADDRESS] }, {});
  assert.equal(d.options.presenceRefreshMs, 20_000, 'default presence_ttl 60s');
  await d.close();
});

test('switchboard serve refuses a bad engine.redis section with a clear message and exit code 2', async () => {
  const { spawnSync } = await import('node:child_process');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  // eslint-disable-next-line @typescript-eslint/unbound-method -- node:path's functions do not use `this`
  const { join } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'sb-cfg-'));
  try {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{}, /engine\.redis\.address: required/],
      [{ address: 'bad address!' }, /engine\.redis\.address: bad Redis address/],
      [{ address: REDIS_ADDRESS, presence_ttl: '10ms' }, /engine\.redis\.presence_ttl: at least/],
    ];
    for (const [redis, expected] of cases) {
      const file = join(dir, 'config.json');
      writeFileSync(file, JSON.stringify({ engine: { type: 'redis', redis }, http_api: { key: 'k' }, client: { token: { hmac_secret_key: 'secret' } } }));
      const env: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SWITCHBOARD_')) env[k] = v;
      const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', join(root, 'apps/server/src/cli.ts'), 'serve', '--config', file, '--port', '0', '--address', '127.0.0.1'], {
        cwd: root,
        env,
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(r.status, 2, `${r.stdout}${r.stderr}`);
      assert.match(r.stderr, expected);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
