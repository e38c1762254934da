/**
 * Two standalone servers on one Redis (127.0.0.1:6379, a prefix of their own) are one server: a
 * publication sent to node A's HTTP API reaches a client of node B, and the API of either node sees
 * presence and channels of both.
 */
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, once, sdk, signToken, startServerProcess, testConfig, until, writeConfig } from './helpers.js';

const REDIS = { host: '127.0.0.1', port: 6379 };

function redisUp(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(REDIS, () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.setTimeout(2000, () => {
      s.destroy();
      resolve(false);
    });
  });
}

const up = await redisUp();
// In CI a missing Redis is a failure, never a skip.
const skip = !up && process.env['CI'] !== 'true' ? 'Redis is not running on 127.0.0.1:6379' : false;

test('engine.type "redis": two standalone nodes behave as one server', { skip, timeout: 120_000 }, async () => {
  assert.ok(up, 'Redis is not running on 127.0.0.1:6379 (CI=true: this suite must run)');
  const prefix = `sbtest-${randomBytes(4).toString('hex')}`;
  const config = writeConfig(testConfig({ engine: { type: 'redis', redis: { address: `${REDIS.host}:${REDIS.port}`, prefix, presence_ttl: '10s' } } }));
  const [a, b] = await Promise.all([startServerProcess(config), startServerProcess(config)]);
  const client = sdk(b.wsUrl, { token: await signToken('on-b') });
  try {
    assert.equal((await fetch(`${a.base}/ready`)).status, 200);
    const connected = once(client, 'connected');
    client.connect();
    await connected;
    const sub = client.newSubscription('chat:cluster');
    const subscribed = once(sub, 'subscribed');
    sub.subscribe();
    await subscribed;

    // Publish on A, receive on B.
    const got = once<{ data: unknown; offset?: number }>(sub, 'publication');
    const r = await api(a.base, 'publish', { channel: 'chat:cluster', data: { via: 'node A' } });
    assert.equal(r.json.result.offset, 1);
    // Across nodes the publishing node cannot know who it reached: no subscriber count.
    assert.equal(r.json.result.subscribers, undefined);
    const pub = await got;
    assert.deepEqual(pub.data, { via: 'node A' });
    assert.equal(pub.offset, 1);

    // A's API sees B's subscriber in presence, channels and history; info lists both nodes.
    assert.deepEqual((await api(a.base, 'presence_stats', { channel: 'chat:cluster' })).json, { result: { num_clients: 1, num_users: 1 } });
    assert.deepEqual((await api(a.base, 'channels', { pattern: 'chat:*' })).json, { result: { channels: { 'chat:cluster': { num_clients: 1 } } } });
    assert.deepEqual((await api(a.base, 'history', { channel: 'chat:cluster', limit: 5 })).json.result.publications, [{ data: { via: 'node A' }, offset: 1 }]);
    await until(async () => (await api(a.base, 'info', {})).json.result.nodes.length === 2, 15_000, 'both nodes in info');

    // A server-side disconnect sent to A reaches B's client.
    const gone = once<{ code: number }>(client, 'disconnected');
    await api(a.base, 'disconnect', { user: 'on-b' });
    assert.equal((await gone).code, 3503);
  } finally {
    client.disconnect();
    await Promise.all([a.stop(), b.stop()]);
  }
});
