// Fuzz of the HTTP transport endpoints: random bodies, query strings and methods on
// /connection/http_stream, /connection/sse, /emulation and the unidirectional endpoints, and random
// command batches sent through a live emulation session, in JSON and in Protobuf (random bytes and
// random Commands, application/octet-stream). Every request gets one of the documented
// statuses (a stream that opens is ended by the server with a disconnect push when its content is
// bad), the server never fails (no 500, no 'error' event), nothing is left behind, and a bystander
// client keeps receiving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Command, EmulationRequest, Reply } from '../../src/protocols/centrifuge/proto-schema.js';
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

/** A Protobuf command batch for a live session: random Commands (known methods, odd ids) and random bytes. */
const protoBatch = fc.oneof(
  fc
    .array(
      fc.record({
        id: fc.integer({ min: 0, max: 50 }),
        m: fc.constantFrom('subscribe', 'unsubscribe', 'publish', 'presence', 'presence_stats', 'history', 'rpc', 'refresh', 'sub_refresh', 'ping', 'send', 'connect'),
        channel: fc.constantFrom('room:a', 'room:b', 'nope:x', ''),
        data: fc.oneof(fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')), fc.uint8Array({ maxLength: 16 })),
      }),
      { minLength: 1, maxLength: 5 },
    )
    .map((cmds) => {
      const w = Command.encodeDelimited(Command.fromObject({}));
      for (const { id, m, channel, data } of cmds) {
        w.fork();
        Command.encodeDelimited(Command.fromObject({ id, [m]: m === 'connect' || m === 'ping' ? {} : { channel, data } }), w);
      }
      return w.finish().subarray(1); // without the leading empty command
    }),
  fc.uint8Array({ minLength: 1, maxLength: 64 }),
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

  // The same in Protobuf: random bytes as opening and emulation bodies.
  const postBytes = (path: string, body: Uint8Array) => fetch(`${srv.base}${path}`, { method: 'POST', body: new Uint8Array(body), headers: { 'content-type': 'application/octet-stream' } });
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('/connection/http_stream', '/connection/sse', '/emulation', '/connection/uni_http_stream'), fc.uint8Array({ maxLength: 256 }), async (path, body) => {
      const ac = new AbortController();
      try {
        const res = await fetch(`${srv.base}${path}`, { method: 'POST', body: new Uint8Array(body), signal: ac.signal, headers: { 'content-type': 'application/octet-stream' } });
        assert.ok(allowed.has(res.status), `POST ${path} (Protobuf): ${res.status}`);
      } finally {
        ac.abort();
      }
    }),
    { numRuns: Math.ceil(RUNS / 3) },
  );

  // Random Protobuf command batches through a live Protobuf session: answered or closed (a disconnect push), never a failure.
  await fc.assert(
    fc.asyncProperty(protoBatch, async (batch) => {
      const connect = Command.encodeDelimited({ id: 1, connect: { token: await token({ sub: 'fuzz-pb' }) } }).finish();
      const res = await postBytes('/connection/http_stream', connect);
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      try {
        // The connect reply: read until one whole length-delimited Reply is in.
        let buf = Buffer.alloc(0);
        let reply: { connect?: { session: string; node: string } } | undefined;
        while (reply === undefined) {
          const { done, value } = await reader.read();
          assert.ok(!done, 'the stream ended before the connect reply');
          buf = Buffer.concat([buf, value]);
          try {
            reply = Reply.toObject(Reply.decodeDelimited(buf));
          } catch {
            // not all of it yet
          }
        }
        const { session, node } = reply.connect!;
        const status = (await postBytes('/emulation', EmulationRequest.encode({ session, node, data: batch }).finish())).status;
        assert.ok(status === 204 || status === 404, `Protobuf emulation answered ${status}`);
      } finally {
        await reader.cancel();
      }
    }),
    { numRuns: Math.ceil(RUNS / 3) },
  );

  await until(() => srv.sb.counts().connections === 1, 20_000, 'only the bystander left');
  await srv.sb.publish('room:calm', { still: 'here' });
  await by.find((m) => JSON.stringify(m).includes('"still":"here"'), 'the bystander still receives');
  assert.deepEqual(errors, [], 'no handler or server error');
});
