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
  // a second endpoint that refuses (400, not retried) with one attempt: its events become dead letters
  const refusing = await new WebhookBackend(HOOK_SECRET).listen();
  t.after(() => refusing.close());
  refusing.mode = 400;
  const config = testConfig({
    webhooks: [
      { url: backend.url, secret: HOOK_SECRET, name: 'backend', namespaces: ['chat'], events: ['connect', 'disconnect', 'channel_occupied', 'channel_vacated'] },
      { url: refusing.url, secret: HOOK_SECRET, name: 'refusing', events: ['connect'], max_attempts: 1 },
    ],
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
  type HookStats = {
    webhooks: { name: string; delivered: number; deadLetters: number; recentDeadLetters: { event: { type: string; user?: string }; error: string; attempts: number }[] }[];
    lifecycleFailures: { total: number; byOperation: Record<string, number> };
  };
  const hookStats = async () => (await (await fetch(`${srv.base}/admin/api/webhooks`, { headers: { cookie } })).json()) as HookStats;
  const hooks = await hookStats();
  assert.equal(hooks.webhooks[0]!.name, 'backend');
  assert.ok(hooks.webhooks[0]!.delivered >= 2);
  assert.deepEqual(hooks.lifecycleFailures, { total: 0, byOperation: {} }, 'the lifecycle failures are on the admin API');

  // dead letters: non-zero in the admin API and the metrics, then redelivered through the admin
  await until(async () => (await hookStats()).webhooks[1]!.deadLetters === 1, 10_000, "the refused connect in the refusing endpoint's dead letters");
  const refused = (await hookStats()).webhooks[1]!;
  assert.equal(refused.name, 'refusing');
  assert.equal(refused.recentDeadLetters.length, 1);
  assert.deepEqual(refused.recentDeadLetters[0]!.event.type, 'connect');
  assert.equal(refused.recentDeadLetters[0]!.event.user, 'hooked');
  assert.equal(refused.recentDeadLetters[0]!.error, 'HTTP 400');
  assert.equal(refused.recentDeadLetters[0]!.attempts, 1);
  const scraped = await (await fetch(`${srv.base}/metrics`)).text();
  assert.match(scraped, /switchboard_webhook_dead_letters\{[^}]*webhook="refusing"[^}]*\} 1\n/);
  assert.match(scraped, /switchboard_webhook_dead_lettered_total\{[^}]*webhook="refusing"[^}]*\} 1\n/);
  assert.match(scraped, /switchboard_webhook_dead_letters_claimed_total\{[^}]*webhook="refusing"[^}]*\} 0\n/, 'none taken over from a dead node');
  assert.match(scraped, /# TYPE switchboard_lifecycle_failures_total counter/);
  const redeliverAs = (contentType: string) => fetch(`${srv.base}/admin/api/webhooks/redeliver`, { method: 'POST', headers: { cookie, 'content-type': contentType }, body: '{}' });
  assert.equal((await redeliverAs('text/plain')).status, 415, 'redelivery needs a JSON body');
  assert.equal(refusing.events.length, 0);
  refusing.mode = 200;
  assert.deepEqual(await (await redeliverAs('application/json')).json(), { result: { requeued: 1 } });
  await until(() => refusing.of('connect').length === 1, 10_000, 'the dead letter delivered once redelivered');
  assert.equal(refusing.of('connect')[0]!.user, 'hooked');
  assert.equal(refusing.badSignatures, 0);
  assert.equal((await hookStats()).webhooks[1]!.deadLetters, 0);
  assert.match(await (await fetch(`${srv.base}/metrics`)).text(), /switchboard_webhook_dead_letters\{[^}]*webhook="refusing"[^}]*\} 0\n/);
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
