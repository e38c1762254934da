import { test } from 'node:test';
import assert from 'node:assert/strict';
import PusherServer from 'pusher';
import { until } from './helpers.js';
import { createSwitchboard, MemoryStateStore, pusher, type WebhookJournal } from '../src/index.js';
import { APP, next, pusherClient, startPusher, type PusherClient } from './pusher-helpers.js';
import { PusherWebhookBackend } from './pusher-webhook-backend.js';

test('pusher webhooks: occupied/vacated, members folded by user, client events, cache misses; signed (checked by the official library), batched, retried', { timeout: 30_000 }, async (t) => {
  const backend = await new PusherWebhookBackend(() => new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1' })).listen();
  t.after(() => backend.close());
  // The first request fails: the batch is retried with backoff, nothing lost.
  backend.failNext = 1;
  const srv = await startPusher({}, { ...APP, webhooks: [{ url: backend.url, lingerMs: 5, retry: { baseMs: 50, maxMs: 200 } }] });
  const clients: PusherClient[] = [];
  const mk = (user: string) => {
    const c = pusherClient(srv, { user });
    clients.push(c);
    return c;
  };
  t.after(async () => {
    for (const c of clients) c.disconnect();
    await srv.mount.close(1000);
    await srv.close();
  });
  const a1 = mk('alice');
  const p1 = a1.subscribe('presence-room');
  await next((cb) => p1.bind('pusher:subscription_succeeded', cb), 5000, 'alice subscribed');
  await until(() => backend.named('member_added').length === 1, 10_000, 'occupied and member_added');
  assert.deepEqual(backend.events.slice(0, 2), [
    { name: 'channel_occupied', channel: 'presence-room' },
    { name: 'member_added', channel: 'presence-room', user_id: 'alice' },
  ]);
  assert.ok(backend.requests >= 2, 'the refused request was retried');
  // Alice's second connection and Bob: one member_added (Bob's), no second occupied.
  const a2 = mk('alice');
  const p2 = a2.subscribe('presence-room');
  await next((cb) => p2.bind('pusher:subscription_succeeded', cb), 5000, 'alice again');
  const b = mk('bob');
  const pb = b.subscribe('presence-room');
  await next((cb) => pb.bind('pusher:subscription_succeeded', cb), 5000, 'bob subscribed');
  await until(() => backend.named('member_added').length === 2, 10_000, 'bob added');
  assert.deepEqual(backend.named('member_added').map((e) => e.user_id), ['alice', 'bob']);
  // A client event: its channel, name, data, sender socket and (presence) user id.
  const got = next((cb) => p1.bind('client-typing', cb), 5000, 'whisper');
  pb.trigger('client-typing', { typing: true });
  await got;
  await until(() => backend.named('client_event').length === 1, 10_000, 'client_event');
  assert.deepEqual(backend.named('client_event')[0], { name: 'client_event', channel: 'presence-room', event: 'client-typing', data: '{"typing":true}', socket_id: b.connection.socket_id, user_id: 'bob' });
  // A cache miss.
  const cache = b.subscribe('cache-scores');
  await next((cb) => cache.bind('pusher:cache_miss', () => cb(undefined)), 5000, 'cache miss');
  await until(() => backend.named('cache_miss').length === 1, 10_000, 'cache_miss webhook');
  // Alice leaves on one connection: nothing; on the last: member_removed. Everyone gone: vacated once.
  a1.disconnect();
  await until(async () => (await srv.sb.presenceStore.get('pusher:presence-room')).size === 2, 5000, 'a1 gone');
  a2.disconnect();
  await until(() => backend.named('member_removed').length === 1, 10_000, 'alice removed');
  assert.deepEqual(backend.named('member_removed')[0], { name: 'member_removed', channel: 'presence-room', user_id: 'alice' });
  b.disconnect();
  await until(() => backend.named('channel_vacated', 'presence-room').length === 1, 10_000, 'vacated');
  await until(() => backend.named('channel_vacated', 'cache-scores').length === 1, 10_000, 'cache channel vacated');
  assert.deepEqual(backend.named('member_removed').map((e) => e.user_id), ['alice', 'bob']);
  assert.equal(backend.named('channel_occupied', 'presence-room').length, 1);
  assert.equal(backend.invalid, 0, 'every request verified with the official library');
  // The same request checked with another secret, or with its body changed, is refused.
  const last = backend.last!;
  assert.equal(last.headers['x-pusher-key'], APP.key);
  assert.equal(new PusherServer({ appId: APP.id, key: APP.key, secret: 'another-secret', host: '127.0.0.1' }).webhook(last).isValid(), false);
  assert.equal(new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1' }).webhook({ ...last, rawBody: last.rawBody.replace('vacated', 'occupied') }).isValid(), false);
  assert.ok(typeof (JSON.parse(last.rawBody) as { time_ms: unknown }).time_ms === 'number');
});

test('pusher webhooks: a user who leaves and comes back within the leave delay sends no member_removed/member_added and no vacated/occupied', { timeout: 30_000 }, async (t) => {
  const backend = await new PusherWebhookBackend(() => new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1' })).listen();
  t.after(() => backend.close());
  // A wide window (Pusher's is 3 s) so that the reconnect below lands inside it however slow the machine.
  const srv = await startPusher({}, { ...APP, webhookLeaveDelayMs: 5000, webhooks: [{ url: backend.url, lingerMs: 5 }] });
  const clients: PusherClient[] = [];
  t.after(async () => {
    for (const c of clients) c.disconnect();
    await srv.mount.close(1000);
    await srv.close();
  });
  const join = async () => {
    const c = pusherClient(srv, { user: 'alice' });
    clients.push(c);
    const room = c.subscribe('presence-room');
    const news = c.subscribe('news');
    await Promise.all([next((cb) => room.bind('pusher:subscription_succeeded', cb), 5000, 'presence-room'), next((cb) => news.bind('pusher:subscription_succeeded', cb), 5000, 'news')]);
    return c;
  };
  const first = await join();
  await until(() => backend.named('member_added').length === 1 && backend.named('channel_occupied').length === 2, 10_000, 'occupied twice, alice added');
  // A page reload: the connection goes, a new one subscribes the same channels as the same user.
  first.disconnect();
  const second = await join();
  second.disconnect();
  // Only the last leave counts, once the window has passed.
  await until(() => backend.named('channel_vacated').length === 2 && backend.named('member_removed').length === 1, 20_000, 'vacated twice, alice removed');
  const of = (channel: string) => backend.events.filter((e) => e.channel === channel).map((e) => e.name);
  assert.deepEqual(of('presence-room').sort(), ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed']);
  assert.deepEqual(of('news'), ['channel_occupied', 'channel_vacated']);
  assert.equal(backend.invalid, 0);
});

test('pusher webhooks: webhookLeaveDelayMs 0 sends member_removed and channel_vacated at once; a bad delay is refused', { timeout: 20_000 }, async (t) => {
  assert.throws(() => pusher(createSwitchboard(), { apps: [{ ...APP, webhookLeaveDelayMs: -1 }] }), /pusher app 4242: webhookLeaveDelayMs must be a number of at least 0 \(got -1\)/);
  assert.throws(() => pusher(createSwitchboard(), { apps: [{ ...APP, pongTimeout: 0 }] }), /pusher app 4242: pongTimeout must be a positive number \(got 0\)/);
  const backend = await new PusherWebhookBackend(() => new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1' })).listen();
  t.after(() => backend.close());
  const srv = await startPusher({}, { ...APP, webhookLeaveDelayMs: 0, webhooks: [{ url: backend.url, lingerMs: 5 }] });
  t.after(async () => {
    await srv.mount.close(1000);
    await srv.close();
  });
  const c = pusherClient(srv, { user: 'alice' });
  const room = c.subscribe('presence-room');
  await next((cb) => room.bind('pusher:subscription_succeeded', cb), 5000, 'presence-room');
  await until(() => backend.named('member_added').length === 1, 10_000, 'alice added');
  c.disconnect();
  await until(() => backend.named('channel_vacated').length === 1 && backend.named('member_removed').length === 1, 10_000, 'vacated and removed');
});

test('pusher webhooks: subscription_count with the app’s subscription counts on, each change of a channel’s subscribers, none for presence', { timeout: 30_000 }, async (t) => {
  const backend = await new PusherWebhookBackend(() => new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1' })).listen();
  t.after(() => backend.close());
  const srv = await startPusher({}, { ...APP, enableSubscriptionCount: true, webhookLeaveDelayMs: 0, webhooks: [{ url: backend.url, lingerMs: 5, events: ['subscription_count', 'member_added'] }] });
  const clients: PusherClient[] = [];
  t.after(async () => {
    for (const c of clients) c.disconnect();
    await srv.mount.close(1000);
    await srv.close();
  });
  const counts = () => backend.named('subscription_count', 'counted').map((e) => (e as unknown as { subscription_count: number }).subscription_count);
  const sub = async (user: string, channel: string) => {
    const c = pusherClient(srv, { user });
    clients.push(c);
    const ch = c.subscribe(channel);
    await next((cb) => ch.bind('pusher:subscription_succeeded', cb), 5000, `${user} in ${channel}`);
    return c;
  };
  await sub('alice', 'counted');
  await until(() => counts().length === 1, 10_000, 'count 1');
  const bob = await sub('bob', 'counted');
  await until(() => counts().length === 2, 10_000, 'count 2');
  bob.disconnect();
  await until(() => counts().length === 3, 10_000, 'count back to 1');
  assert.deepEqual(counts(), [1, 2, 1]);
  // A presence channel has members instead: member_added, no count.
  await sub('carol', 'presence-counted');
  await until(() => backend.named('member_added').length === 1, 10_000, 'carol added');
  assert.equal(backend.events.filter((e) => e.name === 'subscription_count' && e.channel === 'presence-counted').length, 0);
  assert.deepEqual(Object.keys(backend.named('subscription_count')[0]!).sort(), ['channel', 'name', 'subscription_count']);
  assert.equal(backend.invalid, 0);
});

/** A memory state store with webhook journals (as Redis, PostgreSQL, NATS and SQLite have), to see which journals are opened and what they hold. */
class JournaledState extends MemoryStateStore {
  readonly journals = new Map<string, Map<string, string>>();
  webhookJournal(webhook: string, node: string): WebhookJournal {
    const rows = new Map<string, string>();
    this.journals.set(`${webhook} @${node}`, rows);
    let next = 0;
    return {
      append: async (entry) => {
        const key = String(++next);
        rows.set(key, entry);
        return key;
      },
      remove: async (keys) => {
        for (const k of keys) rows.delete(k);
      },
      claim: async () => [],
      size: async () => rows.size,
    };
  }
}

test('pusher webhooks: journaled in the state store where it has one, one journal per app and URL (durable: false opts out); a URL twice in an app is refused', { timeout: 20_000 }, async (t) => {
  assert.throws(() => pusher(createSwitchboard(), { apps: [{ ...APP, webhooks: [{ url: 'http://127.0.0.1:9/a' }, { url: 'http://127.0.0.1:9/a', events: ['client_event'] }] }] }), /pusher app 4242: webhook http:\/\/127.0.0.1:9\/a is configured twice/);
  const backend = await new PusherWebhookBackend(() => new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1' })).listen();
  t.after(() => backend.close());
  const state = new JournaledState();
  const memoryOnly = `${backend.url}?memory`;
  const srv = await startPusher({ state }, { ...APP, webhookLeaveDelayMs: 0, webhooks: [{ url: backend.url, lingerMs: 5 }, { url: memoryOnly, lingerMs: 5, durable: false }] });
  t.after(async () => {
    await srv.mount.close(1000);
    await srv.close();
  });
  assert.deepEqual([...state.journals.keys()], [`pusher:${APP.id}:${backend.url} @${srv.sb.id}`, `dead-letters:pusher:${APP.id}:${backend.url} @${srv.sb.id}`], 'the queue journal and the dead-letter journal');
  assert.deepEqual(
    srv.mount.webhooks.queues.map((q) => [q.url, q.durable]),
    [
      [backend.url, true],
      [memoryOnly, false],
    ],
  );
  const c = pusherClient(srv, { user: 'alice' });
  const room = c.subscribe('presence-room');
  await next((cb) => room.bind('pusher:subscription_succeeded', cb), 5000, 'presence-room');
  const journaled = () => srv.mount.webhooks.stats()[0]!;
  await until(() => journaled().journaled === 2 && journaled().delivered === 2, 10_000, 'occupied and member_added journaled and delivered');
  await until(() => state.journals.values().next().value!.size === 0, 10_000, 'delivered events removed from the journal');
  assert.equal(backend.invalid, 0);
  c.disconnect();
  await until(() => journaled().journaled === 4 && journaled().delivered === 4, 10_000, 'removed and vacated');
  assert.equal(srv.mount.webhooks.stats()[1]!.journaled, 0);
});

test('pusher webhooks are batched: events queued while a request is out go together in the next one', { timeout: 30_000 }, async (t) => {
  const backend = await new PusherWebhookBackend(() => new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1' })).listen();
  t.after(() => backend.close());
  let release = () => {};
  backend.hold = new Promise<void>((r) => (release = r));
  const srv = await startPusher({}, { ...APP, webhooks: [{ url: backend.url, lingerMs: 5 }] });
  const c = pusherClient(srv);
  t.after(async () => {
    release();
    c.disconnect();
    await srv.mount.close(1000);
    await srv.close();
  });
  const queue = () => srv.mount.stats()[0]!.webhooks[0]!;
  const sub = (name: string) => next((cb) => c.subscribe(name).bind('pusher:subscription_succeeded', cb), 5000, name);
  await sub('one');
  // The receiver holds the first request (one request is out at a time): the next events queue up.
  await until(() => queue().inFlight === 1, 5000, 'first request out');
  await sub('two');
  await sub('three');
  await until(() => queue().queued === 2, 5000, 'two events queued');
  release();
  await until(() => backend.named('channel_occupied').length === 3, 5000, 'three occupied');
  assert.deepEqual(backend.sizes, [1, 2]);
  assert.deepEqual(
    backend.events.map((e) => e.channel),
    ['one', 'two', 'three'],
  );
});
