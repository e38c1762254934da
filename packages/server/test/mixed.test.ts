import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { CommandContext } from '../src/index.js';
import { RawClient, once, sdk, token, until } from './helpers.js';
import { connected, join, pond, startMulti, stopAll } from './pond-helpers.js';

afterEach(() => stopAll());

test('one channel, three protocols: publications from the app and from each client reach every subscriber once; presence lists all three; middleware and hooks see all three', async () => {
  const seen: string[] = [];
  const hooks: string[] = [];
  const srv = await startMulti(
    {
      namespaces: {
        chat: {
          allowSubscribeForClient: true,
          allowPublishForClient: true,
          allowPresenceForSubscriber: true,
          presence: true,
        },
      },
    },
    (sb) => {
      sb.use(async (ctx: CommandContext, next) => {
        seen.push(`${ctx.kind}/${ctx.protocol}`);
        await next();
      });
      sb.on('subscribe', (client, channel) => void hooks.push(`subscribe/${client.protocol}/${channel}`));
      sb.on('connect', (client) => void hooks.push(`connect/${client.protocol}`));
      sb.on('disconnect', (client) => void hooks.push(`disconnect/${client.protocol}`));
    },
  );
  const ch = 'chat:mix';
  const cent = sdk(srv.url, { token: await token({ sub: 'cent' }) });
  try {
    // native (official centrifuge SDK)
    const centGot: unknown[] = [];
    const csub = cent.newSubscription(ch);
    csub.on('publication', (ctx) => void centGot.push(ctx.data));
    const subscribed = once(csub as never, 'subscribed');
    csub.subscribe();
    cent.connect();
    await subscribed;

    // PondSocket (official client)
    const p = pond(srv.pondUrl, { token: await token({ sub: 'pondy' }) });
    await connected(p);
    const P = await join(p, ch);

    // plain JSON (raw ws)
    const raw = new RawClient(`${srv.plainUrl}?token=${await token({ sub: 'plainy' })}`);
    await raw.opened;
    raw.send({ type: 'subscribe', channel: ch, id: 1 });
    await raw.next((m) => m['type'] === 'subscribed');

    await srv.sb.publish(ch, { event: 'from-app', payload: { n: 0 } });
    await csub.publish({ event: 'from-cent', payload: { n: 1 } });
    P.ch.sendMessage('from-pond' as never, { n: 2 });
    raw.send({ type: 'publish', channel: ch, data: { event: 'from-plain', payload: { n: 3 } }, id: 2 });
    await raw.next((m) => m['type'] === 'published');
    // Wait for the plain publication everywhere, then a sentinel: after it, nothing else is in flight.
    await srv.sb.publish(ch, { event: 'end', payload: {} });

    const events = ['from-app', 'from-cent', 'from-pond', 'from-plain'];
    await until(() => centGot.some((d) => (d as { event: string }).event === 'end'), 5000, 'centrifuge end');
    await until(() => P.msgs.some((m) => m.event === 'end'), 5000, 'pond end');
    const plainGot: Record<string, unknown>[] = [];
    for (;;) {
      const m = await raw.next((x) => x['channel'] === ch);
      if (m['type'] === 'end') break;
      plainGot.push(m);
    }
    const centEvents = centGot.map((d) => (d as { event: string }).event).filter((e) => e !== 'end');
    const pondEvents = P.msgs.map((m) => m.event).filter((e) => e !== 'end' && e !== 'ACKNOWLEDGE');
    const plainEvents = plainGot.map((m) => m['type']);
    // Each exactly once (the order across senders is not fixed: the pond and plain sends race the others).
    for (const got of [centEvents, pondEvents, plainEvents]) assert.deepEqual([...got].sort(), [...events].sort());
    assert.deepEqual(centGot.find((d) => (d as { event: string }).event === 'from-pond'), { event: 'from-pond', payload: { n: 2 } });
    assert.deepEqual(P.msgs.find((m) => m.event === 'from-cent')?.payload, { n: 1 });
    assert.deepEqual(plainGot.find((m) => m['type'] === 'from-pond')?.['data'], { n: 2 });

    // Presence lists all three, whatever the protocol asks.
    const list = await srv.sb.presence(ch);
    assert.deepEqual([...list.values()].map((i) => i.user).sort(), ['cent', 'plainy', 'pondy']);
    const cp = await csub.presence();
    assert.deepEqual(Object.values(cp.clients).map((i) => i.user).sort(), ['cent', 'plainy', 'pondy']);
    await until(() => ((P.ch as unknown as { presence: { user: string }[] }).presence ?? []).length === 3, 5000, 'pond list of 3');
    assert.deepEqual((P.ch as unknown as { presence: { user: string }[] }).presence.map((e) => e.user).sort(), ['cent', 'plainy', 'pondy']);

    for (const proto of ['centrifuge', 'pond', 'plain']) {
      assert.ok(seen.includes(`subscribe/${proto}`), `middleware saw subscribe/${proto}`);
      assert.ok(seen.includes(`connect/${proto}`), `middleware saw connect/${proto}`);
      assert.ok(hooks.includes(`subscribe/${proto}/${ch}`), `hook saw subscribe/${proto}`);
      assert.ok(hooks.includes(`connect/${proto}`), `hook saw connect/${proto}`);
    }
    for (const proto of ['centrifuge', 'plain']) assert.ok(seen.includes(`publish/${proto}`), `middleware saw publish/${proto}`);
    assert.ok(seen.includes('publish/pond'), 'middleware saw the pond broadcast as a publish');

    raw.close();
    await until(() => hooks.includes('disconnect/plain'), 5000, 'disconnect hook');
  } finally {
    cent.disconnect();
    await srv.close();
  }
});

test('fan-out encodes a publication once per protocol, however many subscribers speak it', async () => {
  const srv = await startMulti({ allowAnonymous: true, namespaces: { chat: { allowSubscribeForClient: true, allowSubscribeForAnonymous: true } } });
  const calls = { pond: 0, plain: 0 };
  for (const name of ['pond', 'plain'] as const) {
    const p = srv.sb.protocol(name)!;
    const orig = p.encodePublication.bind(p);
    (p as { encodePublication: typeof orig }).encodePublication = (ch, pub) => {
      calls[name]++;
      return orig(ch, pub);
    };
  }
  const clients: RawClient[] = [];
  try {
    for (let i = 0; i < 20; i++) {
      const plain = new RawClient(srv.plainUrl);
      const pd = new RawClient(srv.pondUrl);
      clients.push(plain, pd);
      await Promise.all([plain.opened, pd.opened]);
      plain.send({ type: 'subscribe', channel: 'chat:fan' });
      pd.send({ action: 'JOIN_CHANNEL', event: 'JOIN_CHANNEL', channelName: 'chat:fan', requestId: `j${i}`, payload: {} });
      await plain.next((m) => m['type'] === 'subscribed');
      await pd.next((m) => m['event'] === 'ACKNOWLEDGE');
    }
    for (let n = 0; n < 5; n++) await srv.sb.publish('chat:fan', { event: 'tick', payload: { n } });
    for (const c of clients) for (let n = 0; n < 5; n++) await c.next((m) => m['type'] === 'tick' || (m['channelName'] === 'chat:fan' && m['event'] === 'tick'));
    assert.deepEqual(calls, { pond: 5, plain: 5 });
  } finally {
    for (const c of clients) c.close();
    await srv.close();
  }
});

test('the command rate limit applies to pond and plain clients with their own error shapes', async () => {
  const srv = await startMulti({ allowAnonymous: true, limits: { commandRateLimit: 5 }, namespaces: { chat: { allowSubscribeForClient: true, allowSubscribeForAnonymous: true, allowPublishForClient: true, allowPublishForAnonymous: true } } }, (sb) => {
    sb.rpc('noop', () => ({}));
  });
  try {
    const plain = new RawClient(srv.plainUrl);
    await plain.opened;
    for (let i = 0; i < 8; i++) plain.send({ action: 'noop', id: i });
    const answers: Record<string, unknown>[] = [];
    for (let i = 0; i < 8; i++) answers.push(await plain.next((m) => m['id'] !== undefined));
    assert.ok(answers.some((m) => m['type'] === 'reply'));
    assert.ok(answers.some((m) => m['type'] === 'error' && m['code'] === 111), 'plain: error 111');

    const pd = new RawClient(srv.pondUrl);
    await pd.opened;
    pd.send({ action: 'JOIN_CHANNEL', event: 'JOIN_CHANNEL', channelName: 'chat:rl', requestId: 'j', payload: {} });
    await pd.next((m) => m['event'] === 'ACKNOWLEDGE');
    for (let i = 0; i < 8; i++) pd.send({ action: 'BROADCAST', event: 'e', channelName: 'chat:rl', requestId: `r${i}`, payload: {} });
    const got: Record<string, unknown>[] = [];
    for (let i = 0; i < 8; i++) got.push(await pd.next((m) => typeof m['requestId'] === 'string' && (m['requestId']).startsWith('r')));
    const limited = got.find((m) => m['action'] === 'ERROR');
    assert.ok(limited, 'pond: an ERROR frame answers a limited broadcast');
    assert.equal((limited['payload'] as Record<string, unknown>)['code'], 429);
    plain.close();
    pd.close();
  } finally {
    await srv.close();
  }
});
