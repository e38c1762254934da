// Fuzz of the HTTP transport endpoints: random bodies, query strings and methods on
// /connection/http_stream, /connection/sse, /emulation and the unidirectional endpoints, and random
// command batches sent through a live emulation session. Every request gets one of the documented
// statuses (a stream that opens is ended by the server with a disconnect push when its content is
// bad), the server never fails (no 500, no 'error' event), nothing is left behind, and a bystander
// client keeps receiving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { token, until } from '../helpers.js';
import { startHttpServer, StreamReader } from '../http-transport-helpers.js';

const RUNS = Number(process.env.HTTP_FUZZ_RUNS ?? 300);
const MAX = 8192;

const jsonish = fc.oneof(
  fc.json(),
  fc.string(),
  fc.jsonValue().map((v) => JSON.stringify({ id: 1, connect: v })),
  fc.jsonValue().map((v) => JSON.stringify({ session: v, node: 'x', data: JSON.stringify(v) })),
  fc.constantFrom('', '{}', '[]', 'null', '{"id":1,"connect":{}}', '{"id":1,"connect":{"token":"x.y.z"}}', '\n\n', '{"session":"","node":"","data":""}'),
  fc.string({ minLength: MAX - 5, maxLength: MAX + 20 }),
);

/** A command for a live session: known methods with random params, unknown ones, odd ids. */
const command = fc.oneof(
  fc.record({
    id: fc.oneof(fc.integer({ min: -2, max: 50 }), fc.constant('x')),
    m: fc.constantFrom('subscribe', 'unsubscribe', 'publish', 'presence', 'presence_stats', 'history', 'rpc', 'refresh', 'sub_refresh', 'ping', 'send', 'nope', 'connect'),
    p: fc.oneof(fc.jsonValue(), fc.record({ channel: fc.oneof(fc.constantFrom('room:a', 'room:b', 'nope:x', ''), fc.string()), data: fc.jsonValue() })),
  }).map(({ id, m, p }) => JSON.stringify({ id, [m]: p })),
  fc.constantFrom('{}', 'not json', '[1]'),
);

test(`HTTP transport endpoints under ${RUNS} random requests and command batches`, { timeout: 300_000 }, async (t) => {
  const errors: unknown[] = [];
  const srv = await startHttpServer({ namespaces: { room: { allowSubscribeForClient: true, allowPublishForSubscriber: true, presence: true, historySize: 10, historyTtlMs: 60_000 } }, limits: { maxMessageSize: MAX } }, (sb) => {
    sb.on('error', (e) => void errors.push(e));
  });
  t.after(() => srv.close());
  const post = (path: string, body: string, ct = 'application/json') => fetch(`${srv.base}${path}`, { method: 'POST', body, headers: { 'content-type': ct } });

  // The bystander: an SSE session subscribed to room:calm.
  const by = new StreamReader(`${srv.base}/connection/sse?cf_connect=${encodeURIComponent(JSON.stringify({ id: 1, connect: { token: await token({ sub: 'bystander' }) } }))}`, 'sse');
  t.after(() => by.close());
  const byConnect = (await by.find((m) => m['id'] === 1, 'the bystander connected'))['connect'] as { session: string; node: string };
  assert.equal((await post('/emulation', JSON.stringify({ ...byConnect, data: '{"id":2,"subscribe":{"channel":"room:calm"}}' }))).status, 204);
  await by.find((m) => m['id'] === 2, 'the bystander subscribed');

  // 431: Node's own limit on the request line and headers (16 KiB), hit by a huge cf_connect.
  const allowed = new Set([200, 204, 400, 404, 405, 413, 415, 431]);
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('/connection/http_stream', '/connection/sse', '/emulation', '/connection/uni_http_stream', '/connection/uni_sse'), fc.constantFrom('GET', 'POST', 'PUT'), jsonish, fc.boolean(), async (path, method, body, inQuery) => {
      const url = `${srv.base}${path}${inQuery ? `?cf_connect=${encodeURIComponent(body)}` : ''}`;
      const ac = new AbortController();
      try {
        const res = await fetch(url, { method, signal: ac.signal, ...(method === 'GET' ? {} : { body, headers: { 'content-type': 'application/json' } }) });
        assert.ok(allowed.has(res.status), `${method} ${path}: ${res.status}`);
      } finally {
        // A stream that opened (200) is dropped by the client at once.
        ac.abort();
      }
    }),
    { numRuns: RUNS },
  );

  // Random command batches through a live session: the session answers or closes, never fails.
  await fc.assert(
    fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 5 }), async (cmds) => {
      const r = new StreamReader(`${srv.base}/connection/http_stream`, 'lines', { method: 'POST', body: JSON.stringify({ id: 1, connect: { token: await token({ sub: 'fuzz' }) } }), headers: { 'content-type': 'application/json' } });
      try {
        const s = (await r.find((m) => m['id'] === 1, 'connected'))['connect'] as { session: string; node: string };
        const status = (await post('/emulation', JSON.stringify({ ...s, data: cmds.join('\n') }))).status;
        assert.ok(status === 204 || status === 404, `emulation answered ${status}`);
      } finally {
        r.close();
      }
    }),
    { numRuns: Math.ceil(RUNS / 3) },
  );

  await until(() => srv.sb.counts().connections === 1, 20_000, 'only the bystander left');
  await srv.sb.publish('room:calm', { still: 'here' });
  await by.find((m) => JSON.stringify(m).includes('"still":"here"'), 'the bystander still receives');
  assert.deepEqual(errors, [], 'no handler or server error');
});
