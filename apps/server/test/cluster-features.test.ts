// The standalone server's webhooks, user status and cluster admin calls: configuration, metrics,
// the admin page's JSON API, and configuration errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SubscriptionState } from 'centrifuge';
import { WebhookBackend } from '../../../packages/server/test/webhook-backend.js';
import { ConfigError, finish } from '../src/config.js';
import { ADMIN_PASSWORD, api, sdk, signToken, startServerProcess, testConfig, until, writeConfig } from './helpers.js';

const HOOK_SECRET = 'standalone-webhook-secret-0123';

test('standalone: webhooks and user status from the configuration; metrics and the admin API show them', { timeout: 120_000 }, async (t) => {
  const backend = await new WebhookBackend(HOOK_SECRET).listen();
  t.after(() => backend.close());
  const config = testConfig({
    webhooks: [{ url: backend.url, secret: HOOK_SECRET, name: 'backend', namespaces: ['chat'], events: ['connect', 'disconnect', 'channel_occupied', 'channel_vacated'] }],
    user_status: { enabled: true },
    cluster: { node_ttl: '2s' },
  });
  const srv = await startServerProcess(writeConfig(config));
  t.after(() => srv.stop());
  const c = sdk(srv.wsUrl, { token: await signToken('hooked', { jti: 'standalone-jti' }) });
  t.after(() => c.disconnect());
  c.connect();
  const sub = c.newSubscription('chat:hooks');
  sub.subscribe();
  await until(() => sub.state === SubscriptionState.Subscribed, 10_000, 'subscribed');
  await until(() => backend.of('channel_occupied', 'chat:hooks').length === 1 && backend.of('connect').length === 1, 10_000, 'connect and occupied');
  assert.equal(backend.of('subscribe').length, 0, 'events not configured are not sent');
  const status = await api(srv.base, 'user_status', { users: ['hooked'] });
  assert.equal(status.json.result.statuses[0].online, true);

  // admin: login, webhook status, cluster calls
  const login = await fetch(`${srv.base}/admin/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: ADMIN_PASSWORD }) });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  const hooks = (await (await fetch(`${srv.base}/admin/api/webhooks`, { headers: { cookie } })).json()) as { webhooks: { name: string; delivered: number; deadLetters: number }[] };
  assert.equal(hooks.webhooks[0]!.name, 'backend');
  assert.ok(hooks.webhooks[0]!.delivered >= 2);
  const adminCall = async (method: string, params: unknown) =>
    (await (await fetch(`${srv.base}/admin/api/cluster`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify({ method, params }) })).json()) as {
      result?: Record<string, unknown>;
      error?: { code: number; message: string };
    };
  const found = await adminCall('connections', { user: 'hooked' });
  assert.equal((found.result!['connections'] as unknown[]).length, 1);
  assert.deepEqual((await adminCall('user_status', { users: [''] })).error?.code, 107);
  assert.equal((await adminCall('publish', {})).error?.code, 107, 'only the cluster methods');
  const form = await fetch(`${srv.base}/admin/api/cluster`, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: 'method=revoke_token' });
  assert.equal(form.status, 415);
  assert.equal((await fetch(`${srv.base}/admin/api/webhooks`)).status, 401, 'behind the login');
  const disconnected = new Promise<number>((resolve) => c.on('disconnected', (ctx) => resolve(ctx.code)));
  assert.deepEqual((await adminCall('revoke_token', { uid: 'standalone-jti' })).result, {});
  assert.equal(await disconnected, 3520);
  await until(() => backend.of('channel_vacated', 'chat:hooks').length === 1 && backend.of('disconnect').length === 1, 10_000, 'vacated and disconnect');
  assert.equal(backend.of('disconnect')[0]!.code, 3520);
  assert.equal(backend.badSignatures, 0);

  // the backend fails: retries, then dead letters show in the metrics after recovery too
  backend.mode = 500;
  const c2 = sdk(srv.wsUrl, { token: await signToken('second') });
  t.after(() => c2.disconnect());
  c2.connect();
  await until(async () => /switchboard_webhook_failures_total\{[^}]*webhook="backend"[^}]*\} [1-9]/.test(await (await fetch(`${srv.base}/metrics`)).text()), 20_000, 'failures in the metrics');
  const metrics = await (await fetch(`${srv.base}/metrics`)).text();
  assert.match(metrics, /switchboard_webhook_events_delivered_total\{[^}]*webhook="backend"[^}]*\} [1-9]/);
  assert.match(metrics, /switchboard_webhook_dead_letters\{[^}]*webhook="backend"[^}]*\} 0/);
  backend.mode = 200;
  await until(() => backend.of('connect').some((e) => e.user === 'second'), 20_000, 'delivered once the backend is back');
});

test('standalone: bad webhook, user status and cluster settings are configuration errors naming the key', () => {
  const issues = (extra: Record<string, unknown>) => {
    try {
      finish(testConfig(extra), {});
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.issues.map((i) => `${i.key}: ${i.message}`);
    }
  };
  assert.deepEqual(issues({ webhooks: [{ url: 'http://x/hook', secret: HOOK_SECRET }] }), []);
  const bad = issues({ webhooks: [{ secret: 'short' }, { url: 'ftp://x', secret: HOOK_SECRET, events: ['nope'], max_attempts: 0 }], cluster: { node_ttl: '100ms' } });
  assert.deepEqual(
    bad.map((m) => m.slice(0, m.indexOf(':'))),
    ['webhooks[0].url', 'webhooks[0].secret', 'webhooks[1].url', 'webhooks[1].events', 'webhooks[1].max_attempts', 'cluster.node_ttl'],
  );
  assert.ok(bad[3]!.includes('channel_occupied'), 'the known events are listed');
  assert.ok(issues({ user_status: { enabled: 'yes' } }).some((m) => m.startsWith('user_status.enabled')));
});
