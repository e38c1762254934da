/**
 * The standalone server's Centrifugo v6 transport keys on the memory engine: `uni_*.enabled` with
 * custom paths, CORS from `client.allowed_origins` on the HTTP transports, everything off by
 * default, and connections counted by transport in /metrics and on the admin page.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Centrifuge } from 'centrifuge';
import { EventSource } from 'eventsource';
import { ADMIN_PASSWORD, API_KEY, SECRET, once, signToken, startServerProcess, testConfig, until, writeConfig, type ServerProcess } from './helpers.js';
import { StreamReader } from '../../../packages/server/test/http-transport-helpers.js';

const ALLOWED = 'https://a.example';
const PATHS = { uni_sse: '/rt/uni-sse', uni_http_stream: '/rt/uni-stream', uni_websocket: '/rt/uni-ws', http_stream: '/rt/stream', sse: '/rt/sse' };

let on: ServerProcess;
let off: ServerProcess;
before(async () => {
  const all = writeConfig(
    testConfig({
      client: { token: { hmac_secret_key: SECRET }, allowed_origins: [ALLOWED] },
      http_stream: { enabled: true, path: PATHS.http_stream },
      sse: { enabled: true, path: PATHS.sse },
      uni_sse: { enabled: true, path: PATHS.uni_sse },
      uni_http_stream: { enabled: true, path: PATHS.uni_http_stream },
      uni_websocket: { enabled: true, path: PATHS.uni_websocket },
    }),
    'transports-on.json',
  );
  [on, off] = await Promise.all([startServerProcess(all), startServerProcess(writeConfig(testConfig(), 'transports-off.json'))]);
});
after(async () => {
  await Promise.all([on?.stop(), off?.stop()]);
});

type Msg = Record<string, unknown>;

/** A raw uni_websocket client with connect as its first message: every push, parsed. */
function uniWs(url: string, connect: unknown): { messages: Msg[]; ws: WebSocket } {
  const messages: Msg[] = [];
  const ws = new WebSocket(url);
  ws.on('open', () => ws.send(JSON.stringify(connect)));
  ws.on('message', (d: Buffer) => messages.push(JSON.parse(d.toString()) as Msg));
  ws.on('error', () => {});
  return { messages, ws };
}

test('uni_sse, uni_http_stream and uni_websocket at their configured paths: connect push and publications; the default paths are not served', { timeout: 90_000 }, async () => {
  const connect = (user: string) => signToken(user, { channels: [`chat:uni-${user}`] }).then((token) => ({ token }));
  const sse = new StreamReader(`${on.base}${PATHS.uni_sse}?cf_connect=${encodeURIComponent(JSON.stringify(await connect('s')))}`, 'sse');
  const stream = new StreamReader(`${on.base}${PATHS.uni_http_stream}`, 'lines', { method: 'POST', body: JSON.stringify(await connect('h')), headers: { 'content-type': 'application/json' } });
  const ws = uniWs(`${on.wsUrl.replace('/connection/websocket', PATHS.uni_websocket)}`, await connect('w'));
  try {
    for (const [user, messages] of [
      ['s', sse.messages],
      ['h', stream.messages],
      ['w', ws.messages],
    ] as const) {
      await until(() => messages.some((m) => 'connect' in m), 10_000, `${user}: the connect push`);
      const c = messages.find((m) => 'connect' in m)!['connect'] as { subs?: Record<string, unknown> };
      assert.ok(c.subs && `chat:uni-${user}` in c.subs, `${user}: the token's channel is subscribed server-side: ${JSON.stringify(c)}`);
      const r = await fetch(`${on.base}/api/publish`, {
        method: 'POST',
        headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: `chat:uni-${user}`, data: { to: user } }),
      });
      assert.equal(r.status, 200);
      // Centrifugo's unidirectional framing: a push without the reply envelope.
      await until(() => messages.some((m) => m['channel'] === `chat:uni-${user}` && (m['pub'] as { data?: { to?: string } } | undefined)?.data?.to === user), 10_000, `${user}: the publication`);
    }
    // Moved paths: the defaults answer 404 (the app's fallback), not a transport.
    for (const p of ['/connection/uni_sse', '/connection/uni_http_stream', '/connection/http_stream', '/connection/sse']) {
      const r = await fetch(`${on.base}${p}`, { method: 'POST', body: '{}' });
      assert.equal(r.status, 404, p);
      await r.body?.cancel();
    }
  } finally {
    sse.close();
    stream.close();
    ws.ws.terminate();
  }
});

test('off by default: no HTTP transport, no uni_* endpoint, no emulation endpoint', { timeout: 90_000 }, async () => {
  for (const p of ['/connection/http_stream', '/connection/sse', '/connection/uni_sse', '/connection/uni_http_stream', '/emulation']) {
    const r = await fetch(`${off.base}${p}`, { method: 'POST', body: '{}' });
    assert.equal(r.status, 404, p);
    await r.body?.cancel();
  }
  // uni_websocket: the upgrade is not accepted.
  const ws = new WebSocket(off.wsUrl.replace('/connection/websocket', '/connection/uni_websocket'));
  const outcome = await new Promise<string>((resolve) => {
    ws.once('open', () => resolve('open'));
    ws.once('unexpected-response', (_req, r) => resolve(`HTTP ${r.statusCode}`));
    ws.once('error', () => resolve('error'));
  });
  assert.notEqual(outcome, 'open');
  ws.terminate();
});

test('CORS from client.allowed_origins on every HTTP transport: a preflight from the allowed origin is 204 with its headers, another origin 403', { timeout: 90_000 }, async () => {
  for (const p of [PATHS.http_stream, PATHS.sse, '/emulation', PATHS.uni_sse, PATHS.uni_http_stream]) {
    const ok = await fetch(`${on.base}${p}`, { method: 'OPTIONS', headers: { origin: ALLOWED, 'access-control-request-method': 'POST' } });
    assert.equal(ok.status, 204, `${p} from ${ALLOWED}`);
    assert.equal(ok.headers.get('access-control-allow-origin'), ALLOWED, p);
    assert.match(ok.headers.get('access-control-allow-methods') ?? '', /OPTIONS/, p);
    const no = await fetch(`${on.base}${p}`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    assert.equal(no.status, 403, `${p} from another origin`);
    await no.body?.cancel();
    // A real request from another origin is refused too, before any stream opens.
    const req = await fetch(`${on.base}${p}`, { method: 'POST', headers: { origin: 'https://evil.example' }, body: '{}' });
    assert.equal(req.status, 403, `${p}: POST from another origin`);
    await req.body?.cancel();
  }
});

test('connections by transport: /metrics and the admin page count SSE, HTTP-streaming and uni_sse connections', { timeout: 90_000 }, async () => {
  const clients: Centrifuge[] = [];
  const uni = new StreamReader(`${on.base}${PATHS.uni_sse}?cf_connect=${encodeURIComponent(JSON.stringify({ token: await signToken('m-uni') }))}`, 'sse');
  try {
    for (const [transport, path] of [
      ['sse', PATHS.sse],
      ['http_stream', PATHS.http_stream],
    ] as const) {
      const c = new Centrifuge([{ transport, endpoint: `${on.base}${path}` }], {
        token: await signToken(`m-${transport}`),
        emulationEndpoint: `${on.base}/emulation`,
        eventsource: EventSource,
        fetch: globalThis.fetch,
        readableStream: globalThis.ReadableStream,
        timeout: 10_000,
      });
      clients.push(c);
      const connected = once(c, 'connected', 20_000);
      c.connect();
      await connected;
    }
    await until(() => uni.messages.some((m) => 'connect' in m), 10_000, 'the uni_sse connect push');
    const text = await (await fetch(`${on.base}/metrics`)).text();
    const gauge = (transport: string) => Number(new RegExp(`^switchboard_connections_by_transport\\{transport="${transport}"[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 'NaN');
    assert.equal(gauge('sse'), 1, text.split('\n').filter((l) => l.includes('by_transport')).join('\n'));
    assert.equal(gauge('http_stream'), 1);
    assert.equal(gauge('uni_sse'), 1);

    const login = await fetch(`${on.base}/admin/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: ADMIN_PASSWORD }) });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const state = (await (await fetch(`${on.base}/admin/api/state`, { headers: { cookie } })).json()) as { connections: { user: string; transport: string }[] };
    const byUser = Object.fromEntries(state.connections.map((c) => [c.user, c.transport]));
    assert.equal(byUser['m-sse'], 'sse');
    assert.equal(byUser['m-http_stream'], 'http_stream');
    assert.equal(byUser['m-uni'], 'uni_sse');
  } finally {
    for (const c of clients) c.disconnect();
    uni.close();
  }
});
