import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, API_KEY, gentoken, once, sdk, signToken, startServerProcess, testConfig, until, writeConfig, type ServerProcess } from './helpers.js';

let srv: ServerProcess;
let configFile: string;

before(async () => {
  configFile = writeConfig(testConfig());
  srv = await startServerProcess(configFile);
}, { timeout: 90_000 });
after(async () => {
  await srv?.stop();
});

test('the official SDK connects with a gentoken token, subscribes, and receives what POST /api/publish sent', { timeout: 90_000 }, async () => {
  const token = await gentoken(configFile, '42');
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  const c = sdk(srv.wsUrl, { token });
  try {
    const connected = once<{ client: string }>(c, 'connected');
    c.connect();
    await connected;
    const sub = c.newSubscription('chat:api-1');
    const subscribed = once(sub, 'subscribed');
    sub.subscribe();
    await subscribed;
    const got = once<{ data: unknown; offset?: number }>(sub, 'publication');
    const r = await api(srv.base, 'publish', { channel: 'chat:api-1', data: { text: 'from the API', n: [1, 2, 3] } });
    assert.equal(r.status, 200);
    assert.equal(r.json.result.offset, 1);
    assert.equal(typeof r.json.result.epoch, 'string');
    const pub = await got;
    assert.deepEqual(pub.data, { text: 'from the API', n: [1, 2, 3] });
    assert.equal(pub.offset, 1);

    // Authorization: apikey <key> works as well as X-API-Key.
    const r2 = await api(srv.base, 'publish', { channel: 'chat:api-1', data: 'second' }, { authorization: `apikey ${API_KEY}` });
    // On one node the result also says how many subscribers it reached.
    assert.deepEqual(r2.json, { result: { offset: 2, epoch: r.json.result.epoch, subscribers: 1 } });
  } finally {
    c.disconnect();
  }
});

test('every API method answers with Centrifugo shapes', { timeout: 90_000 }, async () => {
  const token = await signToken('u7');
  const c = sdk(srv.wsUrl, { token });
  try {
    const connected = once<{ client: string }>(c, 'connected');
    c.connect();
    const { client } = await connected;
    const sub = c.newSubscription('chat:shapes');
    const subscribed = once(sub, 'subscribed');
    sub.subscribe();
    await subscribed;

    // broadcast: one response per channel, in order; an unknown namespace is error 102.
    const b = await api(srv.base, 'broadcast', { channels: ['chat:shapes', 'nope:x', 'plain'], data: { hello: 1 } });
    assert.equal(b.json.result.responses.length, 3);
    assert.equal(b.json.result.responses[0].result.offset, 1);
    assert.deepEqual(b.json.result.responses[1], { error: { code: 102, message: 'unknown channel' } });
    assert.deepEqual(b.json.result.responses[2], { result: { subscribers: 0 } });

    // presence and presence_stats
    const p = await api(srv.base, 'presence', { channel: 'chat:shapes' });
    assert.deepEqual(p.json, { result: { presence: { [client]: { user: 'u7', client } } } });
    const ps = await api(srv.base, 'presence_stats', { channel: 'chat:shapes' });
    assert.deepEqual(ps.json, { result: { num_clients: 1, num_users: 1 } });
    assert.equal((await api(srv.base, 'presence', { channel: 'plain' })).json.error.code, 108);

    // history and history_remove
    const h = await api(srv.base, 'history', { channel: 'chat:shapes', limit: 10 });
    assert.equal(h.json.result.offset, 1);
    assert.equal(typeof h.json.result.epoch, 'string');
    assert.deepEqual(h.json.result.publications, [{ data: { hello: 1 }, offset: 1 }]);
    assert.deepEqual((await api(srv.base, 'history_remove', { channel: 'chat:shapes' })).json, { result: {} });
    const h2 = await api(srv.base, 'history', { channel: 'chat:shapes', limit: 10 });
    assert.deepEqual(h2.json.result.publications, []);

    // channels and info
    const ch = await api(srv.base, 'channels', { pattern: 'chat:sha*' });
    assert.deepEqual(ch.json, { result: { channels: { 'chat:shapes': { num_clients: 1 } } } });
    const info = await api(srv.base, 'info', {});
    assert.equal(info.json.result.nodes.length, 1);
    const node = info.json.result.nodes[0];
    for (const k of ['uid', 'name', 'version', 'num_clients', 'num_users', 'num_subs', 'num_channels', 'uptime']) assert.ok(k in node, k);
    assert.equal(node.num_clients, 1);

    // subscribe (server-side) → the client gets the subscription; unsubscribe removes it
    const serverSub = once<{ channel: string }>(c, 'subscribed');
    assert.deepEqual((await api(srv.base, 'subscribe', { user: 'u7', channel: 'chat:server-side' })).json, { result: {} });
    assert.equal((await serverSub).channel, 'chat:server-side');
    const serverUnsub = once<{ channel: string }>(c, 'unsubscribed');
    assert.deepEqual((await api(srv.base, 'unsubscribe', { user: 'u7', channel: 'chat:server-side' })).json, { result: {} });
    assert.equal((await serverUnsub).channel, 'chat:server-side');

    // refresh and rpc
    assert.deepEqual((await api(srv.base, 'refresh', { user: 'u7', expire_at: Math.floor(Date.now() / 1000) + 3600 })).json, { result: {} });
    assert.equal((await api(srv.base, 'rpc', { method: 'nothing', params: {} })).json.error.code, 104);

    // batch: replies keyed by method, errors in place
    const batch = await api(srv.base, 'batch', {
      commands: [{ publish: { channel: 'chat:shapes', data: { k: 1 } } }, { presence_stats: { channel: 'chat:shapes' } }, { publish: { channel: 'chat:shapes' } }],
    });
    assert.equal(batch.json.result.replies.length, 3);
    assert.equal(typeof batch.json.result.replies[0].publish.epoch, 'string');
    assert.deepEqual(batch.json.result.replies[1], { presence_stats: { num_clients: 1, num_users: 1 } });
    assert.equal(batch.json.result.replies[2].error.code, 107);

    // disconnect: 3503 "force disconnect" by default: the SDK stays disconnected.
    const gone = once<{ code: number; reason: string }>(c, 'disconnected');
    assert.deepEqual((await api(srv.base, 'disconnect', { user: 'u7' })).json, { result: {} });
    const d = await gone;
    assert.equal(d.code, 3503);
    assert.equal(d.reason, 'force disconnect');
  } finally {
    c.disconnect();
  }
});

test('disconnect passes a given {code, reason} through', { timeout: 90_000 }, async () => {
  const c = sdk(srv.wsUrl, { token: await signToken('u8') });
  try {
    const connected = once(c, 'connected');
    c.connect();
    await connected;
    const gone = once<{ code: number; reason: string }>(c, 'disconnected');
    await api(srv.base, 'disconnect', { user: 'u8', disconnect: { code: 4501, reason: 'banned' } });
    assert.deepEqual(await gone, { code: 4501, reason: 'banned' });
  } finally {
    c.disconnect();
  }
});

test('bad requests: no key 401, non-JSON 400, missing field 107, huge body 413, wrong method 405', { timeout: 90_000 }, async () => {
  const noKey = await api(srv.base, 'publish', { channel: 'chat:x', data: 1 }, {});
  assert.equal(noKey.status, 401);
  assert.equal(noKey.text, '');
  const wrongKey = await api(srv.base, 'info', {}, { 'x-api-key': 'wrong' });
  assert.equal(wrongKey.status, 401);
  assert.equal(wrongKey.text, '');
  assert.equal((await api(srv.base, 'info', {}, { authorization: 'apikey nope' })).status, 401);

  const notJson = await api(srv.base, 'publish', '{"channel": "chat:x", data');
  assert.equal(notJson.status, 400);

  const missing = await api(srv.base, 'publish', { data: { a: 1 } });
  assert.equal(missing.status, 200);
  assert.equal(missing.json.error.code, 107);
  assert.match(missing.json.error.message, /channel/);
  const noData = await api(srv.base, 'publish', { channel: 'chat:x' });
  assert.equal(noData.json.error.code, 107);
  assert.equal((await api(srv.base, 'broadcast', { channels: [], data: 1 })).json.error.code, 107);
  assert.equal((await api(srv.base, 'history', { channel: 'chat:x', limit: 'ten' })).json.error.code, 107);
  assert.equal((await api(srv.base, 'disconnect', { user: 'x', disconnect: { code: 12 } })).json.error.code, 107);
  assert.equal((await api(srv.base, 'publish', { channel: 'nope:x', data: 1 })).json.error.code, 102);
  assert.equal((await api(srv.base, 'publish', [1, 2])).json.error.code, 107);

  // Centrifugo's transport error mode: the error as an HTTP status.
  const transport = await api(srv.base, 'publish', { data: 1 }, { 'x-api-key': API_KEY, 'x-centrifugo-error-mode': 'transport' });
  assert.equal(transport.status, 400);
  assert.equal(transport.json.code, 107);

  const huge = await api(srv.base, 'publish', JSON.stringify({ channel: 'chat:x', data: 'x'.repeat(1024 * 1024 + 10) }));
  assert.equal(huge.status, 413);

  const get = await fetch(`${srv.base}/api/publish`, { headers: { 'x-api-key': API_KEY } });
  assert.equal(get.status, 405);
  const unknown = await api(srv.base, 'frobnicate', {});
  assert.equal(unknown.status, 404);
});

test('/health, /ready and /metrics count the traffic just made', { timeout: 90_000 }, async () => {
  assert.deepEqual(await (await fetch(`${srv.base}/health`)).json(), { status: 'ok' });
  const ready = await fetch(`${srv.base}/ready`);
  assert.equal(ready.status, 200);

  const c = sdk(srv.wsUrl, { token: await signToken('metrics-user') });
  try {
    const connected = once(c, 'connected');
    c.connect();
    await connected;
    const sub = c.newSubscription('chat:metrics');
    const subscribed = once(sub, 'subscribed');
    sub.subscribe();
    await subscribed;
    const refused = c.newSubscription('nope:x');
    const unsubscribed = once<{ code: number }>(refused, 'unsubscribed');
    refused.subscribe();
    assert.equal((await unsubscribed).code, 102);
    const before = await metrics(srv.base);
    let received = 0;
    sub.on('publication', () => received++);
    for (let i = 0; i < 5; i++) await api(srv.base, 'publish', { channel: 'chat:metrics', data: { i } });
    await until(() => received === 5, 10_000, 'five publications');
    const m = await metrics(srv.base);
    assert.equal(m.value('switchboard_connections', { protocol: 'centrifuge', state: 'connected' }), 1);
    assert.equal(m.value('switchboard_subscriptions', { protocol: 'centrifuge' }), 1);
    assert.equal(m.value('switchboard_channels'), 1);
    assert.equal(m.value('switchboard_api_calls_total', { method: 'publish', code: '0' }) - before.value('switchboard_api_calls_total', { method: 'publish', code: '0' }), 5);
    assert.equal(m.value('switchboard_publications_total') - before.value('switchboard_publications_total'), 5);
    assert.equal(m.value('switchboard_deliveries_total') - before.value('switchboard_deliveries_total'), 5);
    const out = { protocol: 'centrifuge', direction: 'out' };
    assert.ok(m.value('switchboard_bytes_total', out) > before.value('switchboard_bytes_total', out));
    assert.ok(m.value('switchboard_messages_total', out) - before.value('switchboard_messages_total', out) >= 1);
    assert.ok(m.value('switchboard_messages_total', { protocol: 'centrifuge', direction: 'in' }) >= 2);
    assert.ok(m.value('switchboard_bytes_total', { protocol: 'centrifuge', direction: 'in' }) > 0);
    // Inbound commands by protocol and type: this test's connect and subscribe at least.
    assert.ok(m.value('switchboard_commands_total', { protocol: 'centrifuge', type: 'connect', code: '0' }) >= 1);
    assert.ok(m.value('switchboard_commands_total', { protocol: 'centrifuge', type: 'subscribe', code: '0' }) >= 1);
    assert.ok(m.value('switchboard_errors_total', { code: '102' }) >= 1, 'the refused subscription is counted by code');
    assert.equal(m.value('switchboard_publish_to_deliver_seconds_count') - before.value('switchboard_publish_to_deliver_seconds_count'), 5);
    // The earlier tests' forced disconnects (3503, 4501) and the 107 errors are counted.
    assert.ok(m.value('switchboard_disconnects_total', { code: '3503' }) >= 1);
    // Inbound-backpressure closes (3013 after a stall) are told apart from the rate limiter's 3013; none here.
    assert.ok(m.has('switchboard_inbound_stalls_total'), 'the stall counter is exported');
    assert.equal(m.value('switchboard_inbound_stalls_total'), 0);
    assert.ok(m.value('switchboard_api_calls_total', { method: 'publish', code: '107' }) >= 1);
    // The prepared-frame fast path is taken with the installed ws, and its fallback is exported.
    assert.ok(m.value('switchboard_ws_frame_connections_total') >= 1, 'connections written with prepared frames');
    assert.ok(m.has('switchboard_ws_frame_fallback_total', { reason: 'internals' }), 'the fallback counter is exported');
    assert.equal(m.value('switchboard_ws_frame_fallback_total', { reason: 'internals' }), 0, 'the installed ws has the internals ws-frames.ts expects');
    assert.ok(m.value('process_resident_memory_bytes') > 0, 'Node process metrics');
    assert.ok(m.value('nodejs_heap_size_used_bytes') > 0, 'Node heap metrics');
  } finally {
    c.disconnect();
  }
});

async function metrics(base: string): Promise<{ value(name: string, labels?: Record<string, string>): number; has(name: string, labels?: Record<string, string>): boolean }> {
  const r = await fetch(`${base}/metrics`);
  assert.equal(r.status, 200);
  const text = await r.text();
  const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
  const find = (name: string, labels: Record<string, string>): number | undefined => {
    for (const l of lines) {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(l);
      if (!m || m[1] !== name) continue;
      const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
    }
    return undefined;
  };
  return {
    value: (name, labels = {}) => find(name, labels) ?? 0,
    has: (name, labels = {}) => find(name, labels) !== undefined,
  };
}

test('plain JSON at /ws and PondSocket at /pondsocket are mounted on the same channels', { timeout: 90_000 }, async () => {
  const { default: WebSocket } = await import('ws');
  const token = await signToken('plain-user');
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws?token=${token}`);
  const frames: Record<string, unknown>[] = [];
  ws.on('message', (d) => {
    for (const line of (d as Buffer).toString().split('\n')) if (line) frames.push(JSON.parse(line));
  });
  try {
    await once(ws, 'open');
    ws.send(JSON.stringify({ type: 'subscribe', channel: 'chat:plain' }));
    await until(() => frames.some((f) => f['type'] === 'subscribed'), 10_000, 'plain subscribed');
    await api(srv.base, 'publish', { channel: 'chat:plain', data: { text: 'to plain' } });
    await until(() => frames.some((f) => f['channel'] === 'chat:plain' && (f['data'] as { text?: string })?.text === 'to plain'), 10_000, 'plain publication');

    // PondSocket: the upgrade is accepted with a token and refused without one.
    const pond = new WebSocket(`ws://127.0.0.1:${srv.port}/pondsocket?token=${token}`);
    await once(pond, 'open');
    pond.close();
    const refused = new WebSocket(`ws://127.0.0.1:${srv.port}/pondsocket`);
    refused.on('error', () => {});
    const res = await new Promise<{ statusCode?: number }>((resolve) => refused.once('unexpected-response', (_req, r) => resolve(r)));
    assert.equal(res.statusCode, 401);
    refused.terminate();
  } finally {
    ws.close();
  }
});

test('admin API: a session cookie from the password, nothing without it', { timeout: 90_000 }, async () => {
  const { ADMIN_PASSWORD } = await import('./helpers.js');
  assert.equal((await fetch(`${srv.base}/admin/api/state`)).status, 401);
  assert.equal((await fetch(`${srv.base}/admin/api/state`, { headers: { cookie: 'sb_admin=9999999999.forged' } })).status, 401);
  const login = (password: string) => fetch(`${srv.base}/admin/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });
  assert.equal((await login('wrong')).status, 401);
  const ok = await login(ADMIN_PASSWORD);
  assert.equal(ok.status, 200);
  const setCookie = ok.headers.get('set-cookie') ?? '';
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Strict/);
  const cookie = setCookie.split(';')[0]!;
  const state = await fetch(`${srv.base}/admin/api/state`, { headers: { cookie } });
  assert.equal(state.status, 200);
  const body = (await state.json()) as { nodes: unknown[]; counts: { connections: number } };
  assert.equal(body.nodes.length, 1);
  // A cross-site form cannot send JSON: publish insists on it.
  const form = await fetch(`${srv.base}/admin/api/publish`, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: 'channel=chat:x&data=1' });
  assert.equal(form.status, 415);
  const pub = await fetch(`${srv.base}/admin/api/publish`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'chat:admin', data: { text: 'x' } }) });
  assert.deepEqual(await pub.json(), { result: { offset: 1, epoch: ((await (await api(srv.base, 'history', { channel: 'chat:admin' })).json) as { result: { epoch: string } }).result.epoch } });
  // A tampered signature is refused.
  const [name, value] = cookie.split('=') as [string, string];
  const tampered = `${name}=${value.slice(0, -2)}${value.endsWith('A') ? 'BB' : 'AA'}`;
  assert.equal((await fetch(`${srv.base}/admin/api/state`, { headers: { cookie: tampered } })).status, 401);
});
