import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, finish, loadConfig, parseDuration, settings } from '../src/config.js';
import { runCli, testConfig, writeConfig } from './helpers.js';

test('checkconfig accepts a valid file and rejects a broken one, naming the key and the fix', { timeout: 90_000 }, async () => {
  const ok = await runCli(['checkconfig', '--config', writeConfig(testConfig())]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /is valid/);

  const broken = testConfig();
  const ns = (broken['channel'] as { namespaces: Record<string, unknown>[] }).namespaces[0]!;
  ns['presense'] = true; // typo
  ns['history_size'] = '50'; // wrong type
  const bad = await runCli(['checkconfig', '--config', writeConfig(broken)]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /channel\.namespaces\[0\]\.presense: unknown key \(did you mean "presence"\?\)/);
  assert.match(bad.stderr, /channel\.namespaces\[0\]\.history_size: expected a non-negative integer/);

  // serve refuses the same file at start, with the same message.
  const serve = await runCli(['serve', '--config', writeConfig(broken), '--port', '0']);
  assert.equal(serve.code, 2);
  assert.match(serve.stderr, /channel\.namespaces\[0\]\.presense: unknown key/);

  // A missing secret names the key and the environment variable that fixes it.
  const noSecret = await runCli(['checkconfig', '--config', writeConfig({ http_api: { key: 'k' } })]);
  assert.equal(noSecret.code, 2);
  assert.match(noSecret.stderr, /client\.token\.hmac_secret_key: missing.*SWITCHBOARD_CLIENT_TOKEN_HMAC_SECRET_KEY/);

});

test('YAML configs, a file that is not JSON, and version', { timeout: 90_000 }, async () => {
  const yaml = `client:\n  token:\n    hmac_secret_key: yaml-secret\nhttp_api:\n  key: k\nchannel:\n  namespaces:\n    - name: news\n      history_size: 10\n      history_ttl: 5m\n`;
  const s = settings(loadConfig(writeConfig(yaml, 'config.yaml'), {}));
  assert.equal(s.hmacSecret, 'yaml-secret');
  assert.deepEqual(s.switchboard.namespaces!['news'], { historySize: 10, historyTtlMs: 300_000 });
  assert.throws(() => loadConfig(writeConfig('{ "client": '), {}), (err: unknown) => err instanceof ConfigError && /not valid JSON/.test(err.message));
  assert.throws(() => loadConfig(writeConfig('a: [b', 'x.yml'), {}), (err: unknown) => err instanceof ConfigError && /not valid YAML/.test(err.message));
  // The example file shipped with the server is valid.
  const example = settings(loadConfig(new URL('../config.example.json', import.meta.url).pathname, {}));
  assert.equal(example.switchboard.userPersonalChannel?.namespace, 'personal');
  assert.equal(example.switchboard.namespaces!['dialog']!.allowUserLimitedChannels, true);
  // The environment fills in a missing secret.
  const fromEnv = loadConfig(writeConfig({ http_api: { key: 'k' } }), { SWITCHBOARD_CLIENT_TOKEN_HMAC_SECRET_KEY: 'from-env' });
  assert.equal(settings(fromEnv).hmacSecret, 'from-env');
  // genconfig writes a valid file with fresh secrets (twice: different secrets), never over an existing one.
  const dir = writeConfig('{}');
  const target = dir.replace(/config\.json$/, 'generated.json');
  const gen = await runCli(['genconfig', '--output', target]);
  assert.equal(gen.code, 0, gen.stderr);
  const generated = settings(loadConfig(target, {}));
  assert.ok((generated.hmacSecret ?? '').length >= 40);
  assert.ok((generated.api.key ?? '').length >= 30);
  assert.equal((await runCli(['genconfig', '--output', target])).code, 2);
  assert.notEqual(settings(finish(JSON.parse((await runCli(['genconfig'])).stdout), {})).hmacSecret, generated.hmacSecret);
  const v = await runCli(['version']);
  assert.match(v.stdout, /^switchboard \d+\.\d+\.\d+/);
});

test('serve fails fast and says why: port in use, engine unreachable', { timeout: 90_000 }, async () => {
  const { createServer } = await import('node:net');
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  try {
    const port = (blocker.address() as { port: number }).port;
    const busy = await runCli(['serve', '--config', writeConfig(testConfig()), '--address', '127.0.0.1', '--port', String(port)]);
    assert.equal(busy.code, 1);
    assert.match(busy.stdout, /cannot start: listen EADDRINUSE/);
  } finally {
    blocker.close();
  }
  // Nothing listens on port 1: the Redis engine cannot connect, and the message says where it looked.
  const noRedis = await runCli(['serve', '--config', writeConfig(testConfig({ engine: { type: 'redis', redis: { address: '127.0.0.1:1' } } })), '--port', '0']);
  assert.equal(noRedis.code, 1);
  assert.match(noRedis.stdout, /cannot start: the redis engine did not start: .*engine\.redis\.address \\"127\.0\.0\.1:1\\"/);
});

test('config mapping: durations, namespaces, env overrides, semantic checks', () => {
  assert.equal(parseDuration('300s'), 300_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('5 minutes'), undefined);

  const c = finish(testConfig(), { SWITCHBOARD_HTTP_API_KEY: 'env-key', SWITCHBOARD_CLIENT_ALLOWED_ORIGINS: 'https://a.example, https://b.example', SWITCHBOARD_SHUTDOWN_TIMEOUT: '2s' });
  const s = settings(c);
  assert.equal(s.api.key, 'env-key');
  assert.deepEqual(s.switchboard.allowedOrigins, ['https://a.example', 'https://b.example']);
  assert.equal(s.shutdownTimeoutMs, 2000);
  assert.deepEqual(s.switchboard.namespaces!['chat'], {
    presence: true,
    joinLeave: true,
    forcePushJoinLeave: true,
    historySize: 50,
    historyTtlMs: 300_000,
    forceRecovery: true,
    allowSubscribeForClient: true,
    allowPublishForSubscriber: true,
    allowPresenceForSubscriber: true,
    allowHistoryForSubscriber: true,
  });

  const issues = (raw: unknown, env = {}) => {
    try {
      finish(raw, env);
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.issues.map((i) => i.key);
    }
  };
  assert.deepEqual(issues({ client: { insecure: true } }), ['http_api.key']);
  assert.deepEqual(issues({ client: { insecure: true }, http_api: { insecure: true }, channel: { namespaces: [{ name: 'a', history_size: 5 }] } }), [
    'channel.namespaces[0].name',
    'channel.namespaces[0].history_ttl',
  ]);
  assert.deepEqual(issues({ client: { insecure: true }, http_api: { insecure: true }, engine: { type: 'cassandra' } }), ['engine.type']);
  assert.deepEqual(issues({ client: { insecure: 'yes' }, http_api: { insecure: true } }), ['client.insecure']);
  assert.deepEqual(issues({ client: { insecure: true }, http_api: { insecure: true }, engine: { type: 'redis' } }), ['engine.redis.address']);
  assert.deepEqual(issues({ client: { insecure: true }, http_api: { insecure: true }, engine: { type: 'redis', redis: { address: 6379 } } }), ['engine.redis.address']);
  assert.deepEqual(issues({ client: { insecure: true }, http_api: { insecure: true }, engine: { type: 'redis', redis: { address: ['a:1', 'b:2'] } } }), []);
  assert.deepEqual(issues({ client: { insecure: true }, http_api: { insecure: true }, engine: { type: 'redis' } }, { SWITCHBOARD_ENGINE_REDIS_ADDRESS: '127.0.0.1:6379' }), []);
  assert.deepEqual(issues({ client: { insecure: true }, http_api: { insecure: true }, shutdown: { timeout: 30 } }), ['shutdown.timeout']);
  assert.deepEqual(issues({ client: { insecure: true }, http_api: { insecure: true }, admin: { enabled: true, password: 'x' } }), ['admin.secret']);
  assert.deepEqual(issues({ client: { insecure: true }, http_api: { insecure: true } }, { SWITCHBOARD_CLIENT_INSECURE: 'maybe' }), ['SWITCHBOARD_CLIENT_INSECURE']);
});

test('subscribe_by_claim: snake_case in the file, subscribeByClaim in the library; a bad value is refused with an example', () => {
  const ok = finish({ client: { insecure: true }, http_api: { insecure: true }, channel: { namespaces: [{ name: 'trpc', subscribe_by_claim: { user: 'sub', org: 'orgs' } }] } });
  assert.deepEqual(settings(ok).switchboard.namespaces!['trpc'], { subscribeByClaim: { user: 'sub', org: 'orgs' } });
  for (const bad of [['sub'], { user: 1 }, { 'user:x': 'sub' }, { user: '' }, 'sub']) {
    try {
      finish({ client: { insecure: true }, http_api: { insecure: true }, channel: { namespaces: [{ name: 'trpc', subscribe_by_claim: bad }] } });
      assert.fail(`accepted ${JSON.stringify(bad)}`);
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(err.issues[0]!.key, 'channel.namespaces[0].subscribe_by_claim');
      assert.match(err.issues[0]!.message, /\{"user": "sub", "org": "orgs"\}/);
    }
  }
});

test('namespace keys of issue 21: allow_pattern_subscribe, acknowledge and ack_timeout; acknowledge without history is refused', () => {
  const base = { client: { token: { hmac_secret_key: 'k' } }, http_api: { key: 'k' } };
  const s = settings(
    finish({ ...base, channel: { namespaces: [{ name: 'orders', allow_pattern_subscribe: true, acknowledge: true, ack_timeout: '3s', history_size: 10, history_ttl: '60s' }] } }, {}),
  );
  assert.deepEqual(s.switchboard.namespaces!['orders'], { historySize: 10, historyTtlMs: 60_000, allowPatternSubscribe: true, acknowledge: true, ackTimeoutMs: 3000 });
  assert.throws(
    () => finish({ ...base, channel: { namespaces: [{ name: 'inbox', acknowledge: true }] } }, {}),
    (err: unknown) => err instanceof ConfigError && /channel\.namespaces\[0\]\.acknowledge: acknowledged delivery needs history/.test(err.message),
  );
});

test('auto_cache_recover: mapped to autoCacheRecover; refused without force_recovery and force_recovery_mode "cache", as in Centrifugo', () => {
  const base = { client: { token: { hmac_secret_key: 'k' } }, http_api: { key: 'k' } };
  const ns = { name: 'state', history_size: 1, history_ttl: '1h', force_recovery: true, force_recovery_mode: 'cache', auto_cache_recover: true };
  const s = settings(finish({ ...base, channel: { namespaces: [ns] } }, {}));
  assert.deepEqual(s.switchboard.namespaces!['state'], { historySize: 1, historyTtlMs: 3_600_000, forceRecovery: true, forceRecoveryMode: 'cache', autoCacheRecover: true });
  for (const bad of [{ ...ns, force_recovery: false }, { ...ns, force_recovery_mode: 'stream' }]) {
    assert.throws(
      () => finish({ ...base, channel: { namespaces: [bad] } }, {}),
      (err: unknown) => err instanceof ConfigError && /channel\.namespaces\[0\]\.auto_cache_recover: auto_cache_recover requires force_recovery: true and force_recovery_mode: "cache"/.test(err.message),
    );
  }
});
