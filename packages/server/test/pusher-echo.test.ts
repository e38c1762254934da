import { test } from 'node:test';
import assert from 'node:assert/strict';
import Echo from 'laravel-echo';
import { until } from './helpers.js';
import { next, PusherJs, startPusher, type PusherClient, type PusherTestServer } from './pusher-helpers.js';

type EchoPusher = Echo<'pusher'>;
/** The type laravel-echo declares for its `Pusher` option (see where it is passed). */
type EchoPusherOption = typeof import('pusher-js');

function echo(srv: PusherTestServer, user: string): EchoPusher {
  return new Echo({
    broadcaster: 'pusher',
    key: 'app-key',
    cluster: 'mt1',
    wsHost: '127.0.0.1',
    wsPort: srv.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    authEndpoint: `http://127.0.0.1:${srv.port}/pusher/auth`,
    // A fresh headers object per instance: Echo copies its defaults shallowly.
    auth: { headers: { 'X-User': user } },
    // The value is right (laravel-echo calls `new options.Pusher(key, options)`) but its type is not: pusher-js's
    // CommonJS build is `module.exports = Pusher` while its index.d.ts says `export default`, so under NodeNext
    // laravel-echo's `import { default } from 'pusher-js'` types the option as pusher-js's whole module namespace.
    Pusher: PusherJs as unknown as EchoPusherOption,
  });
}

function connected(e: EchoPusher): Promise<void> {
  return next((cb) => (e.connector.pusher as PusherClient).connection.bind('connected', () => cb(undefined)), 5000, 'echo connected');
}

test('Laravel Echo (pusher connector): public listen with Laravel event names, private whispers, presence here/joining/leaving', { timeout: 30_000 }, async () => {
  const srv = await startPusher();
  const alice = echo(srv, 'alice');
  const bob = echo(srv, 'bob');
  try {
    await Promise.all([connected(alice), connected(bob)]);
    // Public: listen('OrderShipped') binds App\Events\OrderShipped; '.shipped' binds the bare name.
    const orders = alice.channel('orders');
    await next((cb) => orders.subscribed(() => cb(undefined)), 5000, 'orders subscribed');
    const namespaced = next<unknown>((cb) => orders.listen('OrderShipped', cb), 5000, 'OrderShipped');
    const bare = next<unknown>((cb) => orders.listen('.shipped', cb), 5000, '.shipped');
    await srv.api.trigger('orders', 'App\\Events\\OrderShipped', { id: 1 });
    await srv.api.trigger('orders', 'shipped', { id: 2 });
    assert.deepEqual(await namespaced, { id: 1 });
    assert.deepEqual(await bare, { id: 2 });

    // Private: whisper reaches the other, never the sender.
    const pa = alice.private('chat.1');
    const pb = bob.private('chat.1');
    await Promise.all([next((cb) => pa.subscribed(() => cb(undefined))), next((cb) => pb.subscribed(() => cb(undefined)))]);
    let selfWhisper = false;
    pa.listenForWhisper('typing', () => (selfWhisper = true));
    const whisper = next<unknown>((cb) => pb.listenForWhisper('typing', cb), 5000, 'whisper');
    pa.whisper('typing', { name: 'alice' });
    assert.deepEqual(await whisper, { name: 'alice' });
    const after = next<unknown>((cb) => pa.listen('.done', cb), 5000, 'done');
    await srv.api.trigger('private-chat.1', 'done', {});
    await after;
    assert.equal(selfWhisper, false);
    // A private channel the backend refuses: Echo's error callback.
    const refused = next<{ status?: number }>((cb) => alice.private('forbidden').error(cb), 5000, 'refused');
    assert.equal((await refused).status, 403);

    // Presence: here, joining, leaving.
    const room = alice.join('room');
    const here = await next<{ name: string }[]>((cb) => room.here(cb), 5000, 'here');
    assert.deepEqual(here, [{ name: 'alice' }]);
    const joining = next<{ name: string }>((cb) => room.joining(cb), 5000, 'joining');
    const bobRoom = bob.join('room');
    const bobHere = await next<{ name: string }[]>((cb) => bobRoom.here(cb), 5000, 'bob here');
    assert.deepEqual(bobHere.map((m) => m.name).sort(), ['alice', 'bob']);
    assert.deepEqual(await joining, { name: 'bob' });
    const leaving = next<{ name: string }>((cb) => room.leaving(cb), 5000, 'leaving');
    bob.leave('room');
    assert.deepEqual(await leaving, { name: 'bob' });
    await until(async () => (await srv.sb.presenceStore.get('pusher:presence-room')).size === 1, 5000, 'bob left presence');
  } finally {
    alice.disconnect();
    bob.disconnect();
    await srv.close();
  }
});
