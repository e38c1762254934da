import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient } from '../../../packages/server/test/helpers.js';
import { ChannelState, ConnectionState, connected, join, pond, stopAll, waitFor } from '../../../packages/server/test/pond-helpers.js';
import { api, once, sdk, signToken, startServerProcess, testConfig, until, writeConfig, type ServerProcess } from './helpers.js';

// The standalone server serves plain JSON at /ws and PondSocket at /pondsocket with the [SB]
// rules of PROTOCOL-pondsocket.md: token in the query, channels are namespaced channels, joins
// follow the subscribe rules, client broadcasts are publications where allowed, HTTP API
// publications arrive as events, presence is the channel's.

let srv: ServerProcess;

before(async () => {
  const config = testConfig();
  const channel = config['channel'] as { namespaces: Record<string, unknown>[] };
  channel.namespaces.push({ name: 'ro', allow_subscribe_for_client: true, presence: true }, { name: 'closed' });
  srv = await startServerProcess(writeConfig(config));
});
after(async () => {
  stopAll();
  await srv?.stop();
});
afterEach(() => stopAll());

const pondUrl = () => `ws://127.0.0.1:${srv.port}/pondsocket`;
const plainUrl = () => `ws://127.0.0.1:${srv.port}/ws`;

test('standalone: /pondsocket and /ws refuse a missing or bad token with 401 before the upgrade', async () => {
  for (const url of [pondUrl(), `${pondUrl()}?token=bad`, plainUrl(), `${plainUrl()}?token=bad`]) {
    await assert.rejects(new RawClient(url).opened, /HTTP 401/, url);
  }
  const c = pond(pondUrl(), { token: 'bad' });
  let errored = false;
  c.onError(() => (errored = true));
  c.connect();
  await until(() => errored, 10_000, 'pond client error');
  assert.notEqual(c.getState(), ConnectionState.CONNECTED);
});

test('standalone: PondSocket, plain JSON and native clients share channels, publications and presence', async () => {
  const p = pond(pondUrl(), { token: await signToken('pondy') });
  await connected(p);
  const raw = new RawClient(`${plainUrl()}?token=${await signToken('plainy')}`);
  const cent = sdk(srv.wsUrl, { token: await signToken('cent') });
  try {
    await raw.opened;
    raw.send({ type: 'subscribe', channel: 'chat:std', id: 1 });
    assert.equal((await raw.next((m) => m['id'] === 1))['type'], 'subscribed');
    const csub = cent.newSubscription('chat:std');
    const centGot: unknown[] = [];
    csub.on('publication', (ctx) => void centGot.push(ctx.data));
    const subscribed = once(csub as never, 'subscribed');
    csub.subscribe();
    cent.connect();
    await subscribed;

    // Joins follow the namespace subscribe rules.
    const P = await join(p, 'chat:std');
    assert.equal(P.ch.channelState, ChannelState.JOINED);
    assert.equal((await join(p, 'closed:x')).ch.channelState, ChannelState.DECLINED);
    assert.equal((await join(p, 'nosuch:x')).ch.channelState, ChannelState.DECLINED);

    // Presence is the channel's: all three protocols, entries {user, client}.
    await until(() => ((P.ch as unknown as { presence: unknown[] }).presence ?? []).length === 3, 10_000, 'pond presence of 3');
    const entries = (P.ch as unknown as { presence: { user: string; client: string }[] }).presence;
    assert.deepEqual(entries.map((e) => e.user).sort(), ['cent', 'plainy', 'pondy']);
    assert.ok(entries.every((e) => typeof e.client === 'string' && e.client.length > 0));

    // A client broadcast is a publication (allow_publish_for_subscriber); the sender's echo settles sendForResponse.
    assert.deepEqual(await P.ch.sendForResponse('hello' as never, { text: 'from pond' } as never), { text: 'from pond' });
    const fromPond = await raw.next((m) => m['channel'] === 'chat:std' && m['type'] === 'hello');
    assert.deepEqual(fromPond['data'], { text: 'from pond' });
    await until(() => centGot.some((d) => (d as { event?: string }).event === 'hello'), 10_000, 'native got the pond broadcast');
    assert.deepEqual(centGot.find((d) => (d as { event?: string }).event === 'hello'), { event: 'hello', payload: { text: 'from pond' } });

    // HTTP API publications: data.event when there is one, 'message' (pond) / 'publication' (plain) otherwise.
    assert.equal((await api(srv.base, 'publish', { channel: 'chat:std', data: { event: 'news', payload: { n: 1 } } })).status, 200);
    assert.equal((await api(srv.base, 'publish', { channel: 'chat:std', data: { text: 'plain' } })).status, 200);
    assert.deepEqual((await waitFor(P.msgs, 'news')).payload, { n: 1 });
    assert.deepEqual((await waitFor(P.msgs, 'message')).payload, { text: 'plain' });
    assert.deepEqual((await raw.next((m) => m['channel'] === 'chat:std' && m['type'] === 'news'))['data'], { n: 1 });
    assert.deepEqual((await raw.next((m) => m['channel'] === 'chat:std' && m['type'] === 'publication'))['data'], { text: 'plain' });

    // Plain client publications reach the pond member as events.
    raw.send({ type: 'publish', channel: 'chat:std', data: { event: 'wave', payload: { from: 'plainy' } }, id: 2 });
    assert.equal((await raw.next((m) => m['id'] === 2))['type'], 'published');
    assert.deepEqual((await waitFor(P.msgs, 'wave')).payload, { from: 'plainy' });

    // Where the namespace forbids client publishing, the broadcast is refused with an answer.
    const RO = await join(p, 'ro:x');
    assert.equal(RO.ch.channelState, ChannelState.JOINED);
    const refused = (await RO.ch.sendForResponse('hello' as never, { text: 'no' } as never)) as Record<string, unknown>;
    assert.equal(refused['code'], 403);

    // Leaving: the others' presence follows.
    raw.close();
    await until(() => (P.ch as unknown as { presence: unknown[] }).presence.length === 2, 10_000, 'plain member left');
  } finally {
    cent.disconnect();
    raw.close();
  }
});
