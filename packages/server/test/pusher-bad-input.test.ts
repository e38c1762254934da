import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { RawClient } from './helpers.js';
import { APP, startPusher, type PusherTestServer } from './pusher-helpers.js';

type Frame = Record<string, unknown>;

async function raw(srv: PusherTestServer, query = 'protocol=7&client=js&version=8.6.0'): Promise<{ c: RawClient; socketId: string }> {
  const c = new RawClient(`ws://127.0.0.1:${srv.port}/app/${APP.key}?${query}`);
  await c.opened;
  const hello = await c.next((m) => m['event'] === 'pusher:connection_established');
  return { c, socketId: (JSON.parse(hello['data'] as string) as { socket_id: string }).socket_id };
}

const auth = (s: string) => `${APP.key}:${createHmac('sha256', APP.secret).update(s).digest('hex')}`;
const errorOf = (m: Frame) => m['data'] as { code: number | null; message: string };

test('pusher bad input: malformed frames, bad names, client events where not allowed, floods, huge frames, bad versions and sign-ins', { timeout: 30_000 }, async () => {
  const srv = await startPusher({ limits: { maxMessageSize: 64 * 1024 } });
  const clients: RawClient[] = [];
  try {
    const { c, socketId } = await raw(srv);
    clients.push(c);
    for (const bad of ['not json', '[1]', '{"data":{}}', '{"event":"pusher:nonsense","data":{}}']) {
      c.send(bad);
      const e = await c.next((m) => m['event'] === 'pusher:error');
      assert.equal(errorOf(e).code, null, bad);
    }
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.match(errorOf(await c.next((m) => m['event'] === 'pusher:error')).message, /binary/);
    c.send({ event: 'pusher:subscribe', data: { auth: '', channel: 'bad:name' } });
    assert.equal(((await c.next((m) => m['event'] === 'pusher:subscription_error'))['data'] as { type: string }).type, 'InvalidChannel');
    c.send({ event: 'pusher:subscribe', data: { auth: '', channel: 'news' } });
    await c.next((m) => m['event'] === 'pusher_internal:subscription_succeeded' && m['channel'] === 'news');
    // Client events: refused on public channels and on channels not subscribed, with 4301, channel named.
    c.send({ event: 'client-x', channel: 'news', data: {} });
    let e = await c.next((m) => m['event'] === 'pusher:error');
    assert.equal(errorOf(e).code, 4301);
    assert.equal(e['channel'], 'news');
    c.send({ event: 'client-x', channel: 'private-chat', data: {} });
    e = await c.next((m) => m['event'] === 'pusher:error');
    assert.equal(errorOf(e).code, 4301);
    assert.match(errorOf(e).message, /Not subscribed/);
    // A flood of client events: the rate limit refuses the excess, the receiver is unaffected.
    const { c: other, socketId: otherId } = await raw(srv);
    clients.push(other);
    c.send({ event: 'pusher:subscribe', data: { auth: auth(`${socketId}:private-chat`), channel: 'private-chat' } });
    other.send({ event: 'pusher:subscribe', data: { auth: auth(`${otherId}:private-chat`), channel: 'private-chat' } });
    await c.next((m) => m['event'] === 'pusher_internal:subscription_succeeded' && m['channel'] === 'private-chat');
    await other.next((m) => m['event'] === 'pusher_internal:subscription_succeeded' && m['channel'] === 'private-chat');
    for (let i = 0; i < 30; i++) c.send({ event: 'client-flood', channel: 'private-chat', data: { i } });
    const limited = await c.next((m) => m['event'] === 'pusher:error' && /rate limit/.test(errorOf(m).message));
    assert.equal(errorOf(limited).code, 4301);
    await other.next((m) => m['event'] === 'client-flood');
    // Oversized client event data (default 10 KB): refused, the connection stays.
    c.send({ event: 'client-big', channel: 'private-chat', data: { s: 'x'.repeat(11 * 1024) } });
    await c.next((m) => m['event'] === 'pusher:error' && /larger than/.test(errorOf(m).message));
    c.send({ event: 'pusher:ping', data: {} });
    await c.next((m) => m['event'] === 'pusher:pong');
    // A frame over the node's message size limit closes that connection only.
    c.send({ event: 'pusher:ping', data: { s: 'x'.repeat(70 * 1024) } });
    assert.equal((await c.waitClose()).code, 1009);
    other.send({ event: 'pusher:ping', data: {} });
    await other.next((m) => m['event'] === 'pusher:pong');
    // Unsupported protocol version: 4007 frame and close.
    const v = new RawClient(`ws://127.0.0.1:${srv.port}/app/${APP.key}?protocol=9`);
    clients.push(v);
    assert.equal(errorOf(await v.next((m) => m['event'] === 'pusher:error')).code, 4007);
    assert.equal((await v.waitClose()).code, 4007);
    // A sign-in with a bad signature: 4009 frame and close.
    other.send({ event: 'pusher:signin', data: { auth: `${APP.key}:00`, user_data: '{"id":"eve"}' } });
    assert.equal(errorOf(await other.next((m) => m['event'] === 'pusher:error')).code, 4009);
    assert.equal((await other.waitClose()).code, 4009);
  } finally {
    for (const c of clients) c.close();
    await srv.close();
  }
});
