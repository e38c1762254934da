import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Centrifuge } from 'centrifuge';
import { once, token, until } from './helpers.js';
import { Command } from '../src/protocols/centrifuge/proto-schema.js';
import { type HttpTestServer, sdkOver, startHttpServer, StreamReader } from './http-transport-helpers.js';

const namespaces = { chat: { allowSubscribeForClient: true, allowPublishForSubscriber: true } };
const MAX = 4096;

describe('bad input on the HTTP transport endpoints', () => {
  let srv: HttpTestServer;
  let bystander: Centrifuge;
  const got: unknown[] = [];

  const connectCommand = async (user: string) => JSON.stringify({ id: 1, connect: { token: await token({ sub: user }) } });
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${srv.base}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  /** An emulation session opened with a raw HTTP-streaming request: its session, node and client ids. */
  const rawSession = async (user: string) => {
    const r = new StreamReader(`${srv.base}/connection/http_stream`, 'lines', { method: 'POST', body: await connectCommand(user), headers: { 'content-type': 'application/json' } });
    const reply = await r.find((m) => m['id'] === 1, 'the connect reply');
    const result = reply['connect'] as { client: string; session: string; node: string };
    return { r, ...result };
  };

  before(async () => {
    srv = await startHttpServer({ namespaces, allowedOrigins: ['https://app.example.com'], limits: { maxMessageSize: MAX } });
    // A client on another connection throughout: bad requests must not touch it.
    bystander = sdkOver(srv.base, 'http_stream', { token: await token({ sub: 'bystander' }) });
    const ready = once(bystander, 'connected', 10_000);
    bystander.connect();
    await ready;
    const sub = bystander.newSubscription('chat:bystander');
    sub.on('publication', (p) => got.push(p.data));
    sub.subscribe();
    await sub.ready(10_000);
  });
  after(async () => {
    bystander.disconnect();
    await srv.close();
  });

  test('CORS: a preflight from an allowed origin gets 204 with the allow headers; a refused origin gets 403', async () => {
    for (const path of ['/connection/http_stream', '/connection/sse', '/emulation', '/connection/uni_sse', '/connection/uni_http_stream']) {
      const ok = await fetch(`${srv.base}${path}`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
      assert.equal(ok.status, 204, path);
      assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example.com');
      assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
      assert.equal(ok.headers.get('access-control-allow-headers'), 'content-type');
      assert.match(ok.headers.get('access-control-allow-methods') ?? '', /POST/);
      const no = await fetch(`${srv.base}${path}`, { method: 'OPTIONS', headers: { origin: 'https://evil.example.com' } });
      assert.equal(no.status, 403, path);
    }
    const refused = await post('/connection/http_stream', await connectCommand('x'), { origin: 'https://evil.example.com' });
    assert.equal(refused.status, 403);
  });

  test("every streaming response carries Centrifugo's no-cache and no-buffering headers and its content type", async () => {
    const connect = await connectCommand('headers');
    const pbConnect = Command.encodeDelimited({ id: 1, connect: { token: await token({ sub: 'headers-pb' }) } }).finish();
    const cases: [string, RequestInit, string][] = [
      ['/connection/http_stream', { method: 'POST', body: connect, headers: { 'content-type': 'application/json' } }, 'application/json; charset=utf-8'],
      ['/connection/http_stream', { method: 'POST', body: new Uint8Array(pbConnect), headers: { 'content-type': 'application/octet-stream' } }, 'application/octet-stream'],
      [`/connection/sse?cf_connect=${encodeURIComponent(connect)}`, { method: 'GET' }, 'text/event-stream; charset=utf-8'],
      ['/connection/sse', { method: 'POST', body: connect, headers: { 'content-type': 'application/json' } }, 'text/event-stream; charset=utf-8'],
      [`/connection/uni_sse?cf_connect=${encodeURIComponent(JSON.stringify({ token: await token({ sub: 'headers-uni' }) }))}`, { method: 'GET' }, 'text/event-stream; charset=utf-8'],
      ['/connection/uni_http_stream', { method: 'POST', body: JSON.stringify({ token: await token({ sub: 'headers-uni' }) }), headers: { 'content-type': 'application/json' } }, 'application/json; charset=utf-8'],
    ];
    for (const [path, init, type] of cases) {
      const ac = new AbortController();
      const r = await fetch(`${srv.base}${path}`, { ...init, signal: ac.signal });
      try {
        const what = `${init.method} ${path.split('?')[0]} (${type})`;
        assert.equal(r.status, 200, what);
        assert.equal(r.headers.get('content-type'), type, what);
        assert.equal(r.headers.get('cache-control'), 'private, no-cache, no-store, must-revalidate, max-age=0', what);
        assert.equal(r.headers.get('pragma'), 'no-cache', what);
        assert.equal(r.headers.get('expire'), '0', what);
        assert.equal(r.headers.get('x-accel-buffering'), 'no', what);
        // Bytes arrive while the response stays open: the stream is flushed, not buffered to its end.
        const first = await r.body!.getReader().read();
        assert.equal(first.done, false, what);
        assert.ok(first.value.length > 0, what);
      } finally {
        ac.abort();
      }
    }
    await until(() => [...srv.sb.connections()].every((c) => !(c.user ?? '').startsWith('headers')), 10_000, 'the header probes gone');
  });

  test('a method an endpoint does not serve gets 405 with Allow', async () => {
    const cases: [string, string][] = [
      ['/connection/http_stream', 'GET'],
      ['/connection/sse', 'PUT'],
      ['/emulation', 'GET'],
      ['/connection/uni_http_stream', 'DELETE'],
    ];
    for (const [path, method] of cases) {
      const r = await fetch(`${srv.base}${path}`, { method });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.ok(r.headers.get('allow'));
    }
  });

  test('no or bad connect command gets 400 before any stream opens', async () => {
    assert.equal((await fetch(`${srv.base}/connection/sse`)).status, 400, 'sse without cf_connect');
    assert.equal((await fetch(`${srv.base}/connection/sse?cf_connect=${encodeURIComponent('{not json')}`)).status, 400, 'sse with bad JSON');
    assert.equal((await fetch(`${srv.base}/connection/sse?cf_connect=${encodeURIComponent('[1,2]')}`)).status, 400, 'sse with a non-object');
    assert.equal((await post('/connection/http_stream', '')).status, 400, 'http_stream with no body');
    assert.equal((await post('/connection/http_stream', '{"id":1,"connect":{}}\nnope')).status, 400, 'http_stream with a bad line');
    assert.equal((await post('/connection/uni_http_stream', '"token"')).status, 400, 'uni_http_stream with a non-object');
    // Protobuf (application/octet-stream) is served on http_stream (centrifuge-protobuf-http-stream.test.ts): bytes that are not Commands are 400.
    assert.equal((await post('/connection/http_stream', 'x', { 'content-type': 'application/octet-stream' })).status, 400, 'not Protobuf Commands');
    assert.equal((await post('/connection/sse', '{"id":1,"connect":{}}', { 'content-type': 'application/octet-stream' })).status, 415, 'SSE is JSON only');
  });

  test('bodies over the size limit get 413', async () => {
    const big = 'x'.repeat(MAX + 1);
    assert.equal((await post('/connection/http_stream', big)).status, 413);
    assert.equal((await post('/connection/sse', big)).status, 413);
    assert.equal((await post('/emulation', big)).status, 413);
    assert.equal((await post('/connection/uni_http_stream', big)).status, 413);
  });

  test('emulation: bad JSON or shape is 400; an unknown session, a client id used as a session, another node are 404', async () => {
    const s = await rawSession('eve');
    try {
      assert.equal((await post('/emulation', '{oops')).status, 400);
      assert.equal((await post('/emulation', JSON.stringify({ session: s.session, node: s.node }))).status, 400, 'no data');
      assert.equal((await post('/emulation', JSON.stringify({ session: 5, node: s.node, data: '{}' }))).status, 400, 'session not a string');
      assert.equal((await post('/emulation', JSON.stringify({ session: 'nope', node: s.node, data: '{"id":2,"ping":{}}' }))).status, 404, 'unknown session');
      // The client id is public (presence shows it): it does not address the session.
      assert.equal((await post('/emulation', JSON.stringify({ session: s.client, node: s.node, data: '{"id":2,"ping":{}}' }))).status, 404, 'client id');
      assert.equal((await post('/emulation', JSON.stringify({ session: s.session, node: 'no-such-node', data: '{"id":2,"ping":{}}' }))).status, 404, 'unknown node');
      // The real session and node work.
      assert.equal((await post('/emulation', JSON.stringify({ session: s.session, node: s.node, data: '{"id":2,"ping":{}}' }))).status, 204);
      await s.r.find((m) => m['id'] === 2, 'the ping reply');
      // Bad commands inside a well-formed request end the session with 3501, in a disconnect push.
      assert.equal((await post('/emulation', JSON.stringify({ session: s.session, node: s.node, data: 'not json' }))).status, 204);
      const d = await s.r.find((m) => isObject(m['push']) && 'disconnect' in m['push'], 'the disconnect push');
      assert.deepEqual((d['push'] as Record<string, unknown>)['disconnect'], { code: 3501, reason: 'bad request' });
      await until(() => s.r.ended, 5000, 'the stream to end');
      assert.equal((await post('/emulation', JSON.stringify({ session: s.session, node: s.node, data: '{"id":3,"ping":{}}' }))).status, 404, 'gone');
    } finally {
      s.r.close();
    }
  });

  test('emulation requests racing: commands run in the order the client numbered them, and a skipped id stalls nothing for long', async () => {
    const s = await rawSession('racer');
    try {
      const emulate = (cmds: unknown[]) => post('/emulation', JSON.stringify({ session: s.session, node: s.node, data: cmds.map((c) => JSON.stringify(c)).join('\n') }));
      assert.equal((await emulate([{ id: 2, subscribe: { channel: 'chat:race' } }])).status, 204);
      await s.r.find((m) => m['id'] === 2, 'the subscribe reply');
      // The request with ids 4 and 5 reaches the server before the one with id 3.
      assert.equal((await emulate([{ id: 4, publish: { channel: 'chat:race', data: { n: 2 } } }, { id: 5, publish: { channel: 'chat:race', data: { n: 3 } } }])).status, 204);
      assert.equal((await emulate([{ id: 3, publish: { channel: 'chat:race', data: { n: 1 } } }])).status, 204);
      await s.r.find((m) => m['id'] === 5, 'the last publish reply');
      const order = s.r.messages.filter((m) => isObject(m['push']) && 'pub' in m['push']).map((m) => ((m['push'] as { pub: { data: { n: number } } }).pub.data.n));
      assert.deepEqual(order, [1, 2, 3]);
      const replies = s.r.messages.filter((m) => typeof m['id'] === 'number').map((m) => m['id']);
      assert.deepEqual(replies, [1, 2, 3, 4, 5]);
      // Id 6 is never sent: the request with id 7 still runs, after the reorder window.
      assert.equal((await emulate([{ id: 7, publish: { channel: 'chat:race', data: { n: 4 } } }])).status, 204);
      await s.r.find((m) => m['id'] === 7, 'the reply to id 7');
    } finally {
      s.r.close();
    }
  });

  test('nothing leaks: streams closed by the client, refused requests, ended sessions leave only the bystander', async () => {
    const readers: StreamReader[] = [];
    for (let i = 0; i < 10; i++) {
      const s = await rawSession(`leak-${i}`);
      readers.push(s.r);
    }
    for (const r of readers) r.close();
    await until(() => srv.sb.counts().connections === 1, 10_000, 'only the bystander left');
    await srv.sb.publish('chat:bystander', { still: 'here' });
    await until(() => got.length === 1, 10_000, 'the bystander still receives');
    assert.equal(bystander.state, 'connected');
  });
});

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

describe('keepalive and drain over HTTP streams, as on WebSocket', () => {
  test('a client that never answers pings is closed with 3012 in a disconnect push; a connect that never comes is 3502', async (t) => {
    const srv = await startHttpServer({ pingIntervalMs: 300, pongTimeoutMs: 300, limits: { connectTimeoutMs: 500 } });
    t.after(() => srv.close());
    const r = new StreamReader(`${srv.base}/connection/http_stream`, 'lines', {
      method: 'POST',
      body: JSON.stringify({ id: 1, connect: { token: await token({ sub: 'silent' }) } }),
      headers: { 'content-type': 'application/json' },
    });
    t.after(() => r.close());
    await r.find((m) => m['id'] === 1, 'the connect reply');
    const d = await r.find((m) => isObject(m['push']) && 'disconnect' in m['push'], 'the disconnect push');
    assert.deepEqual((d['push'] as Record<string, unknown>)['disconnect'], { code: 3012, reason: 'no pong' });
    assert.ok(r.messages.some((m) => Object.keys(m).length === 0), 'pings were sent');
    await until(() => r.ended && srv.sb.counts().connections === 0, 5000, 'the stream and the connection gone');
  });

  test('a connection whose token expires and is not refreshed is closed with 3005 after the grace period, as on WebSocket', async (t) => {
    const srv = await startHttpServer({ expiredCloseDelayMs: 300 });
    t.after(() => srv.close());
    // exp counts whole seconds from floor(now): expiresIn 1 could leave the token no time at all
    const r = new StreamReader(`${srv.base}/connection/sse?cf_connect=${encodeURIComponent(JSON.stringify({ id: 1, connect: { token: await token({ sub: 'expiring' }, { expiresIn: 3 }) } }))}`, 'sse');
    t.after(() => r.close());
    const reply = await r.find((m) => m['id'] === 1, 'the connect reply');
    assert.equal((reply['connect'] as { expires?: boolean }).expires, true);
    const d = await r.find((m) => isObject(m['push']) && 'disconnect' in m['push'], 'the disconnect push');
    assert.deepEqual((d['push'] as Record<string, unknown>)['disconnect'], { code: 3005, reason: 'connection expired' });
    await until(() => r.ended && srv.sb.counts().connections === 0, 5000, 'the stream and the connection gone');
  });

  test('shutdown drains: every stream (http_stream, sse, uni_sse) gets a 3001 disconnect push and ends', async () => {
    const srv = await startHttpServer({});
    const readers = [
      new StreamReader(`${srv.base}/connection/http_stream`, 'lines', { method: 'POST', body: JSON.stringify({ id: 1, connect: { token: await token({ sub: 'd1' }) } }), headers: { 'content-type': 'application/json' } }),
      new StreamReader(`${srv.base}/connection/sse?cf_connect=${encodeURIComponent(JSON.stringify({ id: 1, connect: { token: await token({ sub: 'd2' }) } }))}`, 'sse'),
      new StreamReader(`${srv.base}/connection/uni_sse?cf_connect=${encodeURIComponent(JSON.stringify({ token: await token({ sub: 'd3' }) }))}`, 'sse'),
    ];
    try {
      for (const r of readers) await r.find((m) => m['id'] === 1 || 'connect' in m, 'connected');
      const closing = srv.close();
      for (const r of readers) {
        const d = await r.find((m) => 'disconnect' in m || (isObject(m['push']) && 'disconnect' in m['push']), 'the disconnect push');
        const disconnect = (isObject(d['push']) ? d['push']['disconnect'] : d['disconnect']) as { code: number };
        assert.equal(disconnect.code, 3001);
      }
      await until(() => readers.every((r) => r.ended), 5000, 'every stream ended');
      await closing;
    } finally {
      for (const r of readers) r.close();
    }
  });
});
