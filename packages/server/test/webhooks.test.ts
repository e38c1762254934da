import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SubscriptionState } from 'centrifuge';
import { MemoryStateStore, signWebhook, verifyWebhook, WebhookQueue, switchboardFormat, type LifecycleEvent, type WebhookJournal } from '../src/index.js';
import { RecordingLogger, waitFor } from '../src/testing/index.js';
import { sdk, startServer, token } from './helpers.js';
import { WebhookBackend } from './webhook-backend.js';

const SECRET = 'webhook-test-secret-0123456789';

function event(i: number, channel = 'chat:x'): LifecycleEvent {
  return { id: `e${i}`, type: 'subscribe', time: Date.now(), node: 'n', channel, client: `c${i}`, user: 'u', seq: i };
}

test('lifecycle webhooks on one node: every event once, signed, in order; occupied and vacated once per transition', async (t) => {
  const backend = await new WebhookBackend(SECRET).listen();
  const srv = await startServer({ namespaces: { chat: { allowSubscribeForClient: true, presence: true } } }, (sb) => {
    sb.webhooks({ url: backend.url, secret: SECRET, namespaces: ['chat'] });
  });
  t.after(async () => {
    await srv.close();
    await backend.close();
  });
  const a = sdk(srv.url, { token: await token({ sub: 'alice', info: { name: 'A' } }) });
  const b = sdk(srv.url, { token: await token({ sub: 'bob' }) });
  t.after(() => {
    a.disconnect();
    b.disconnect();
  });
  a.connect();
  b.connect();
  const sa = a.newSubscription('chat:room');
  const sb = b.newSubscription('chat:room');
  const other = a.newSubscription('other'); // no namespace: not in the webhook's namespaces
  sa.subscribe();
  await waitFor(() => sa.state === SubscriptionState.Subscribed, 5000, 'alice subscribed');
  sb.subscribe();
  other.subscribe();
  await waitFor(() => sb.state === SubscriptionState.Subscribed, 5000, 'bob subscribed');
  sa.unsubscribe();
  await waitFor(() => backend.of('unsubscribe').length === 1, 5000, 'the unsubscribe event');
  b.disconnect();
  await waitFor(() => backend.of('channel_vacated').length === 1 && backend.of('disconnect').length === 1, 5000, 'vacated and disconnect');

  assert.equal(backend.badSignatures, 0, 'every request verifies');
  const evs = backend.unique();
  assert.equal(evs.length, backend.events.length, 'no duplicates while the endpoint answers');
  const room = evs.filter((e) => e.channel === 'chat:room').map((e) => `${e.type}:${e.user ?? ''}`);
  assert.deepEqual(room, [
    'channel_occupied:',
    'subscribe:alice',
    'presence_join:alice',
    'subscribe:bob',
    'presence_join:bob',
    'presence_leave:alice',
    'unsubscribe:alice',
    'presence_leave:bob',
    'unsubscribe:bob',
    'channel_vacated:',
  ]);
  assert.equal(backend.of('channel_occupied').length, 1);
  assert.equal(backend.of('channel_vacated').length, 1);
  assert.equal(evs.filter((e) => e.channel === 'other').length, 0, 'channels outside the namespaces are not tracked');
  // per channel: seq never goes back, occupied precedes every subscribe's end, vacated is last
  const seqs = evs.filter((e) => e.channel === 'chat:room').map((e) => e.seq!);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
  assert.equal(evs.filter((e) => e.channel === 'chat:room').at(-1)!.type, 'channel_vacated');
  const connects = backend.of('connect').map((e) => e.user).sort();
  assert.deepEqual(connects, ['alice', 'bob']);
  const disc = backend.of('disconnect')[0]!;
  assert.equal(disc.user, 'bob');
  assert.equal(typeof disc.code, 'number');
  assert.equal(new Set(evs.map((e) => e.id)).size, evs.length, 'ids are unique');
  const alice = backend.of('connect').find((e) => e.user === 'alice')!;
  assert.deepEqual(alice.info, { name: 'A' });
});

test('the endpoint down for a while: events are retried, then delivered in order, none lost, in batches of at most maxBatch', async (t) => {
  const backend = await new WebhookBackend(SECRET).listen();
  t.after(() => backend.close());
  backend.mode = 503;
  const q = new WebhookQueue({ url: backend.url, format: switchboardFormat(SECRET), maxBatch: 7, retry: { baseMs: 20, maxMs: 100, maxAttempts: 1000 } });
  t.after(() => q.close(100));
  for (let i = 1; i <= 50; i++) q.push(event(i));
  await waitFor(() => q.stats().retries >= 5, 10_000, 'retries while the endpoint fails');
  assert.equal(backend.events.length, 0);
  backend.mode = 200;
  await waitFor(() => backend.events.length >= 50, 10_000, 'delivery once the endpoint is back');
  // batched: the backlog goes in requests of several events, none over maxBatch (7)
  assert.ok(backend.batches.some((n) => n > 1), `some request carried several events (${backend.batches.join(' ')})`);
  assert.ok(backend.batches.every((n) => n >= 1 && n <= 7), `no request over maxBatch (${backend.batches.join(' ')})`);
  assert.equal(backend.batches.reduce((a, b) => a + b, 0), backend.events.length);
  assert.deepEqual(
    backend.unique().map((e) => e.id),
    Array.from({ length: 50 }, (_, i) => `e${i + 1}`),
  );
  // the backend logs a batch when it arrives; the queue counts it once the answer is back
  await waitFor(() => q.stats().delivered >= 50, 10_000, 'the queue to count the last batch delivered');
  const s = q.stats();
  assert.equal(s.delivered, 50);
  assert.equal(s.deadLettered, 0);
  assert.ok(s.failures >= 5);
});

test('undeliverable events go to the dead letters (attempts exhausted, 4xx, queue full), counted; redelivery empties them', async (t) => {
  const backend = await new WebhookBackend(SECRET).listen();
  t.after(() => backend.close());
  backend.mode = 500;
  const q = new WebhookQueue({ url: backend.url, format: switchboardFormat(SECRET), retry: { baseMs: 10, maxMs: 20, maxAttempts: 3 }, maxQueue: 20, maxDeadLetters: 25 });
  t.after(() => q.close(100));
  for (let i = 1; i <= 5; i++) q.push(event(i));
  await waitFor(() => q.stats().deadLetters === 5, 10_000, 'five dead letters');
  assert.equal(q.deadLetters()[0]!.attempts, 3);
  assert.equal(q.deadLetters()[0]!.error, 'HTTP 500');
  backend.mode = 400;
  q.push(event(6));
  await waitFor(() => q.stats().deadLetters === 6, 10_000, 'a 4xx is not retried');
  assert.equal(q.deadLetters()[5]!.attempts, 1);
  backend.mode = 'hang';
  for (let i = 7; i <= 40; i++) q.push(event(i)); // one batch hangs, the queue holds 20, the rest overflow
  await waitFor(() => q.stats().overflowed > 0, 10_000, 'overflow');
  const s = q.stats();
  assert.ok(s.deadLettersDropped + s.deadLetters === s.deadLettered, 'every dead letter is kept or counted as dropped');
  assert.ok(s.deadLetters <= 25, 'the dead letters are bounded');
  backend.mode = 200;
  await q.close(100);
  const q2 = new WebhookQueue({ url: backend.url, format: switchboardFormat(SECRET) });
  t.after(() => q2.close(100));
  for (const d of q.deadLetters()) q2.push(d.event);
  await waitFor(() => q2.stats().delivered === q.deadLetters().length, 10_000, 'redelivered');
  assert.ok(backend.events.length > 0);
});

/** Journals of several nodes in one array (what an engine keeps), with nodes declared dead by hand. */
class FakeJournals {
  rows: { key: string; node: string; entry: string }[] = [];
  readonly dead = new Set<string>();
  failAppends = false;
  #next = 0;
  of(node: string): WebhookJournal {
    return {
      append: async (entry) => {
        if (this.failAppends) throw new Error('engine down');
        const key = String(++this.#next);
        this.rows.push({ key, node, entry });
        return key;
      },
      remove: async (keys) => {
        this.rows = this.rows.filter((r) => !(r.node === node && keys.includes(r.key)));
      },
      claim: async (limit) => {
        const out: { key: string; entry: string }[] = [];
        for (const r of this.rows) {
          if (out.length >= limit) break;
          if (r.node !== node && this.dead.has(r.node)) {
            r.node = node;
            r.key = String(++this.#next);
            out.push({ key: r.key, entry: r.entry });
          }
        }
        return out;
      },
      size: async () => this.rows.filter((r) => r.node === node).length,
    };
  }
}

test('with a journal: delivered and dead-lettered events leave it; at close the undelivered stay in it; another queue claims them and delivers them in order', async (t) => {
  const backend = await new WebhookBackend(SECRET).listen();
  t.after(() => backend.close());
  const journals = new FakeJournals();
  const retry = { baseMs: 10, maxMs: 50, maxAttempts: 1000 };
  const a = new WebhookQueue({ url: backend.url, format: switchboardFormat(SECRET), journal: journals.of('A'), claimIntervalMs: 60_000, retry });
  t.after(() => a.close(100));
  assert.equal(a.durable, true);
  for (let i = 1; i <= 3; i++) a.push(event(i));
  await waitFor(async () => a.stats().delivered === 3 && (await journals.of('A').size()) === 0, 5000, 'delivered and removed from the journal');
  assert.equal(a.stats().journaled, 3);
  backend.mode = 400;
  a.push(event(4));
  await waitFor(async () => a.stats().deadLetters === 1 && (await journals.of('A').size()) === 0, 5000, 'a dead letter leaves the journal too');

  backend.mode = 503;
  for (let i = 5; i <= 14; i++) a.push(event(i));
  await waitFor(() => a.stats().journaled === 14 && a.stats().failures >= 3, 5000, 'journaled, failing');
  await a.close(50);
  assert.equal(a.stats().deadLetters, 1, 'the undelivered are not dead letters: they stay in the journal');
  assert.equal(await journals.of('A').size(), 10);

  const b = new WebhookQueue({ url: backend.url, format: switchboardFormat(SECRET), journal: journals.of('B'), claimIntervalMs: 60_000, retry });
  t.after(() => b.close(100));
  assert.equal(await b.claim(), 0, 'nothing to claim while A is alive');
  journals.dead.add('A');
  backend.mode = 200;
  assert.equal(await b.claim(), 10);
  await waitFor(async () => b.stats().delivered === 10 && (await journals.of('B').size()) === 0, 5000, "A's events delivered by B, the journal empty");
  assert.deepEqual(
    backend.unique().map((e) => e.id),
    ['e1', 'e2', 'e3', ...Array.from({ length: 10 }, (_, i) => `e${i + 5}`)],
    'in the order A pushed them',
  );
  assert.equal(b.stats().claimed, 10);
});

test('with a dead-letter journal: dead letters are durable, move to a survivor with their attempts and error, are dropped past the bound and leave both journals once redelivered', async (t) => {
  const backend = await new WebhookBackend(SECRET).listen();
  t.after(() => backend.close());
  const journals = new FakeJournals();
  const deads = new FakeJournals();
  const options = { url: backend.url, format: switchboardFormat(SECRET), claimIntervalMs: 60_000, retry: { baseMs: 10, maxMs: 50, maxAttempts: 3 }, maxDeadLetters: 5 };
  const a = new WebhookQueue({ ...options, journal: journals.of('A'), deadJournal: deads.of('A') });
  t.after(() => a.close(100));
  backend.mode = 400; // refused: not retried
  for (let i = 1; i <= 3; i++) a.push(event(i));
  await waitFor(async () => a.stats().deadLetters === 3 && (await deads.of('A').size()) === 3 && (await journals.of('A').size()) === 0, 5000, "A's dead letters in its dead-letter journal, out of its queue journal");
  await a.close(100);
  assert.equal(await deads.of('A').size(), 3, 'closing leaves the dead letters in the journal');

  const b = new WebhookQueue({ ...options, journal: journals.of('B'), deadJournal: deads.of('B') });
  t.after(() => b.close(100));
  await b.claim();
  assert.equal(b.stats().deadLetters, 0, "nothing is taken from a live node's dead letters");
  deads.dead.add('A');
  journals.dead.add('A');
  await b.claim();
  assert.deepEqual(
    b.deadLetters().map((d) => [(d.event as { id: string }).id, d.error, d.attempts]),
    [['e1', 'HTTP 400', 1], ['e2', 'HTTP 400', 1], ['e3', 'HTTP 400', 1]],
    "A's dead letters are B's now, as A recorded them",
  );
  assert.equal(b.stats().deadLettersClaimed, 3);
  assert.equal(await deads.of('A').size(), 0);
  assert.equal(await deads.of('B').size(), 3);

  // past the bound (5) the oldest go, from the journal too, counted
  for (let i = 4; i <= 7; i++) b.push(event(i));
  await waitFor(async () => b.stats().deadLettered === 4 && (await deads.of('B').size()) === 5, 5000, "B's own dead letters, the journal at the bound");
  assert.equal(b.stats().deadLettersDropped, 2);
  assert.deepEqual(b.deadLetters().map((d) => (d.event as { id: string }).id), ['e3', 'e4', 'e5', 'e6', 'e7']);

  // redelivered: delivered in order, both journals empty
  backend.mode = 200;
  assert.equal(b.redeliverDeadLetters(), 5);
  await waitFor(async () => b.stats().delivered === 5 && (await deads.of('B').size()) === 0 && (await journals.of('B').size()) === 0, 5000, 'redelivered, both journals empty');
  assert.deepEqual(backend.unique().map((e) => e.id), ['e3', 'e4', 'e5', 'e6', 'e7']);
  assert.equal(b.stats().deadLetters, 0);
});

test('a dead letter whose durable write fails keeps its queue-journal entry (for a survivor) until it is redelivered', async (t) => {
  const backend = await new WebhookBackend(SECRET).listen();
  t.after(() => backend.close());
  const journals = new FakeJournals();
  const deads = new FakeJournals();
  deads.failAppends = true;
  const q = new WebhookQueue({ url: backend.url, format: switchboardFormat(SECRET), journal: journals.of('A'), deadJournal: deads.of('A'), claimIntervalMs: 60_000 });
  t.after(() => q.close(100));
  backend.mode = 400;
  q.push(event(1));
  await waitFor(() => q.stats().deadLetters === 1 && q.stats().journalFailures === 1, 5000, 'dead-lettered, its durable write failed');
  assert.equal(await journals.of('A').size(), 1, 'the event stays in the queue journal');
  backend.mode = 200;
  deads.failAppends = false;
  q.redeliverDeadLetters();
  await waitFor(async () => q.stats().delivered === 1 && (await journals.of('A').size()) === 0, 5000, 'delivered, the queue journal empty');
  assert.deepEqual(backend.unique().map((e) => e.id), ['e1']);
});

test('claims run one after the other: one called during another waits for it, then claims again; a backlog bigger than one claim is taken whole', async (t) => {
  const backlog: string[] = [];
  let calls = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const journal: WebhookJournal = {
    append: async () => 'k',
    remove: async () => {},
    claim: async (limit) => {
      calls++;
      if (calls === 1) {
        await gate; // a claim whose script ran before the node was dead: nothing
        return [];
      }
      return backlog.splice(0, limit).map((entry, i) => ({ key: `${calls}-${i}`, entry }));
    },
    size: async () => 0,
  };
  // nothing listens on port 9: the claimed events wait in the queue
  const q = new WebhookQueue({ url: 'http://127.0.0.1:9/hooks', format: switchboardFormat(SECRET), journal, claimIntervalMs: 60_000, retry: { baseMs: 60_000, maxMs: 60_000, maxAttempts: 1000 } });
  t.after(() => q.close(10));
  const done: string[] = [];
  const first = q.claim().then((n) => (done.push('first'), n));
  for (let i = 1; i <= 1200; i++) backlog.push(JSON.stringify(event(i)));
  const second = q.claim().then((n) => (done.push('second'), n));
  await waitFor(() => calls === 1, 5000, 'the first claim under way');
  release();
  assert.equal(await first, 0);
  assert.equal(await second, 1200);
  assert.deepEqual(done, ['first', 'second']);
  assert.equal(calls, 4, 'the first, then 500 + 500 + 200');
  assert.equal(q.stats().claimed, 1200);
  assert.equal(q.stats().queued + q.stats().inFlight, 1200);
});

test('two webhooks of one URL need their own names (a durable queue journal is keyed by it)', async (t) => {
  const srv = await startServer({});
  t.after(() => srv.close());
  srv.sb.webhooks({ url: 'http://127.0.0.1:9/a', secret: SECRET });
  assert.throws(() => srv.sb.webhooks({ url: 'http://127.0.0.1:9/a', secret: SECRET, events: ['connect'] }), /another webhook is named "http:\/\/127.0.0.1:9\/a": give each webhook of one URL its own name/);
  srv.sb.webhooks({ url: 'http://127.0.0.1:9/a', secret: SECRET, name: 'connects' });
  assert.throws(() => srv.sb.webhooks({ url: 'http://127.0.0.1:9/a', secret: SECRET, name: 'dead-letters:connects' }), /a name may not start with "dead-letters:"/);
});

test('with a journal that fails: the event is counted and delivered from memory all the same', async (t) => {
  const backend = await new WebhookBackend(SECRET).listen();
  t.after(() => backend.close());
  const journals = new FakeJournals();
  journals.failAppends = true;
  const q = new WebhookQueue({ url: backend.url, format: switchboardFormat(SECRET), journal: journals.of('A'), claimIntervalMs: 60_000 });
  t.after(() => q.close(100));
  q.push(event(1));
  await waitFor(() => q.stats().delivered === 1, 5000, 'delivered');
  assert.equal(q.stats().journalFailures, 1);
  assert.equal(q.stats().journaled, 0);
  assert.throws(() => new WebhookQueue({ url: backend.url, format: switchboardFormat(SECRET), journal: journals.of('A'), claimIntervalMs: 0 }), /claimIntervalMs must be a positive number/);
});

test('a hanging endpoint: requests time out and are retried; push never waits', async (t) => {
  const backend = await new WebhookBackend(SECRET).listen();
  t.after(() => backend.close());
  backend.mode = 'hang';
  const q = new WebhookQueue({ url: backend.url, format: switchboardFormat(SECRET), timeoutMs: 100, retry: { baseMs: 10, maxMs: 20, maxAttempts: 1000 } });
  t.after(() => q.close(100));
  for (let i = 1; i <= 10_500; i++) q.push(event(i));
  assert.equal(q.stats().overflowed, 500, 'past maxQueue events are refused at once, into the dead letters');
  await waitFor(() => q.stats().failures >= 2, 10_000, 'timeouts');
  assert.match(q.stats().lastError ?? '', /timeout/);
  backend.mode = 200;
  await waitFor(() => q.stats().delivered === 10_000, 20_000, 'everything queued delivered');
});

test('signatures: verifyWebhook accepts the signed body and refuses a wrong secret, a changed body, an old timestamp', () => {
  const now = Date.now();
  const body = '{"events":[]}';
  const sig = signWebhook(SECRET, now, body);
  assert.equal(verifyWebhook(SECRET, body, String(now), sig), true);
  assert.equal(verifyWebhook('another-secret-0123456789', body, String(now), sig), false);
  assert.equal(verifyWebhook(SECRET, '{"events":[1]}', String(now), sig), false);
  const old = now - 10 * 60_000;
  assert.equal(verifyWebhook(SECRET, body, String(old), signWebhook(SECRET, old, body)), false);
  assert.equal(verifyWebhook(SECRET, body, undefined, sig), false);
  assert.equal(verifyWebhook(SECRET, body, 'abc', sig), false);
  assert.throws(() => switchboardFormat('short'), /16 characters/);
  assert.throws(() => new WebhookQueue({ url: 'ftp://x', format: switchboardFormat(SECRET) }), /http/);
  assert.throws(() => new WebhookQueue({ url: 'http://x', format: switchboardFormat(SECRET), maxBatch: 0 }), /positive/);
});

test('a node taken for dead (its lease lapsed, a survivor reaped it) joins its clients again and reports them back', async (t) => {
  let clock = Date.now();
  const state = new MemoryStateStore({ now: () => clock });
  const srv = await startServer({ state, cluster: { nodeTtlMs: 1000 }, namespaces: { chat: { allowSubscribeForClient: true } } });
  t.after(() => srv.close());
  const events: LifecycleEvent[] = [];
  srv.sb.lifecycle.listen((e) => events.push(e));
  const c = sdk(srv.url, { token: await token({ sub: 'paused' }) });
  t.after(() => c.disconnect());
  c.connect();
  const s = c.newSubscription('chat:pause');
  s.subscribe();
  await waitFor(() => events.some((e) => e.type === 'channel_occupied'), 5000, 'occupied');
  // the node "pauses": its lease lapses and a survivor reaps its members
  clock += 60_000;
  const reaped = await state.reap(100);
  assert.deepEqual(reaped.map((r) => r.group).sort(), ['c:chat:pause', 'u:paused']);
  assert.deepEqual(await state.counts(['c:chat:pause', 'u:paused']), [0, 0]);
  const before = events.length;
  // its next heartbeat learns it lapsed: the members are back, and reported
  await waitFor(async () => (await state.counts(['c:chat:pause', 'u:paused'])).every((n) => n === 1), 10_000, 'members joined again');
  await waitFor(() => events.length >= before + 3, 5000, 'events again');
  assert.deepEqual(
    events.slice(before).map((e) => e.type).sort(),
    ['channel_occupied', 'connect', 'subscribe'],
  );
});

/** Memory state whose channel joins fail while `failing` is set (an engine that errors). */
class FailingJoins extends MemoryStateStore {
  failing = false;
  override async join(group: string, member: string, node: string, data: string, rank?: number): Promise<{ first: boolean; seq: number; added: boolean }> {
    if (this.failing && group.startsWith('c:')) throw new Error('engine refused the join');
    return super.join(group, member, node, data, rank);
  }
}

test('a state-store call that fails: its event is not reported, but counted by operation and logged, never silent', async (t) => {
  const state = new FailingJoins();
  const log = new RecordingLogger();
  const srv = await startServer({ state, logger: log, namespaces: { chat: { allowSubscribeForClient: true } } });
  t.after(() => srv.close());
  const events: LifecycleEvent[] = [];
  srv.sb.lifecycle.listen((e) => events.push(e));
  const c = sdk(srv.url, { token: await token({ sub: 'fails' }) });
  t.after(() => c.disconnect());
  c.connect();
  await waitFor(() => events.some((e) => e.type === 'connect'), 5000, 'connect');
  assert.equal(srv.sb.lifecycle.failures, 0);
  state.failing = true;
  const lost = c.newSubscription('chat:lost');
  lost.subscribe();
  await waitFor(() => srv.sb.lifecycle.failuresBy.get('subscribe') === 1, 5000, 'the failure counted');
  await waitFor(() => lost.state === SubscriptionState.Subscribed, 5000, 'the client subscribed all the same');
  assert.equal(srv.sb.lifecycle.failures, 1);
  const warning = log.warnings.find((w) => w.msg === 'cluster state: subscribe failed');
  assert.ok(warning, 'logged');
  assert.equal((warning.obj as { operation?: string }).operation, 'subscribe');
  state.failing = false;
  const kept = c.newSubscription('chat:kept');
  kept.subscribe();
  await waitFor(() => events.some((e) => e.type === 'subscribe' && e.channel === 'chat:kept'), 5000, 'the next subscribe reported');
  assert.equal(events.filter((e) => e.channel === 'chat:lost').length, 0, 'the failed one was not reported');
  assert.equal(srv.sb.lifecycle.failures, 1);
});

/** Memory state whose user-group joins wait until released (an engine slow on one group). */
class SlowUserJoins extends MemoryStateStore {
  #gate: Promise<void> | undefined;
  release: () => void = () => {};
  hold(): void {
    this.#gate = new Promise((r) => (this.release = r));
  }
  override async join(group: string, member: string, node: string, data: string, rank?: number): Promise<{ first: boolean; seq: number; added: boolean }> {
    if (group.startsWith('u:') && this.#gate) await this.#gate;
    return super.join(group, member, node, data, rank);
  }
}

test("order per client: a client's subscribe is not reported before its connect, even when the engine answers the channel's group first", async (t) => {
  const state = new SlowUserJoins();
  const srv = await startServer({ state, namespaces: { chat: { allowSubscribeForClient: true } } });
  t.after(async () => {
    state.release(); // a failed assertion must not leave the join held (close waits for it)
    await srv.close();
  });
  const events: LifecycleEvent[] = [];
  srv.sb.lifecycle.listen((e) => events.push(e));
  state.hold();
  const c = sdk(srv.url, { token: await token({ sub: 'ordered' }) });
  t.after(() => c.disconnect());
  const s = c.newSubscription('chat:ordered');
  s.subscribe();
  c.connect();
  await waitFor(() => s.state === SubscriptionState.Subscribed, 5000, 'subscribed while the connect is still with the engine');
  // the client is subscribed, its connect still with the engine: none of its events is reported yet
  // The type argument keeps `events` a LifecycleEvent[]: inferred from [] the assertion would narrow it to never[].
  assert.deepEqual<LifecycleEvent[]>(events, [], 'no event of the client before its connect');
  state.release();
  await waitFor(() => events.some((e) => e.type === 'subscribe'), 5000, 'the subscribe reported');
  assert.deepEqual(
    events.map((e) => e.type),
    ['connect', 'channel_occupied', 'subscribe'],
  );
  assert.ok(events[0]!.seq! < events[2]!.seq!, 'seq follows the order');
});
