// The app boundary's types are what they say: route middleware gets a real route context (kind,
// params, state), handlers get a read-only Client view (not the live connection), and a declined
// join is a DeclinedError carrying the app's status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeclinedError, ReplyError, type Client, type RouteContext } from '../src/index.js';
import { RawClient } from './helpers.js';
import { startMulti } from './pond-helpers.js';

test('route middleware sees kind, params, data and state; handlers see a read-only Client; a declined join is a DeclinedError with its status', async () => {
  const seen: Omit<RouteContext, 'client' | 'protocol'>[] = [];
  const clients: Client[] = [];
  const failures: unknown[] = [];
  const srv = await startMulti({ allowAnonymous: true }, (sb) => {
    const room = sb.route('/room/:id', {
      join: (ctx) => {
        clients.push(ctx.client);
        if (ctx.params['id'] === 'closed') ctx.decline(404, 'no such room');
        else ctx.accept();
      },
    });
    room.use(async (ctx, next) => {
      seen.push({ kind: ctx.kind, channel: ctx.channel, params: ctx.params, data: ctx.data, ...(ctx.event ? { event: ctx.event } : {}), state: { ...ctx.state } });
      ctx.state['mark'] = ctx.kind;
      await next();
    });
    room.on('hello', (ctx) => {
      clients.push(ctx.client);
      ctx.reply('hi', { back: true });
    });
    sb.use(async (_ctx, next) => {
      try {
        await next();
      } catch (err) {
        failures.push(err);
        throw err;
      }
    });
  });
  const c = new RawClient(srv.plainUrl);
  try {
    await c.opened;
    await c.next((m) => m['type'] === 'connected');
    c.send({ type: 'subscribe', channel: '/room/1', data: { seat: 3 }, id: 1 });
    await c.next((m) => m['type'] === 'subscribed' && m['id'] === 1);
    c.send({ type: 'publish', channel: '/room/1', data: { event: 'hello', payload: { p: 1 } }, id: 2 });
    await c.next((m) => m['type'] === 'hi');
    c.send({ type: 'subscribe', channel: '/room/closed', id: 3 });
    const err = await c.next((m) => m['type'] === 'error' && m['id'] === 3);

    assert.deepEqual(seen, [
      { kind: 'subscribe', channel: '/room/1', params: { id: '1' }, data: { seat: 3 }, state: {} },
      { kind: 'event', channel: '/room/1', params: { id: '1' }, data: { p: 1 }, event: 'hello', state: {} },
      { kind: 'subscribe', channel: '/room/closed', params: { id: 'closed' }, data: undefined, state: {} },
    ]);

    // One read-only view per connection: identity, channels, send/disconnect; nothing of the live connection.
    assert.equal(clients.length, 3);
    assert.equal(clients[0], clients[1], 'the same view every time');
    const view = clients[0]!;
    assert.deepEqual(view.channels(), ['/room/1']);
    assert.equal(view.isSubscribed('/room/1'), true);
    assert.equal(view.protocol, 'plain');
    for (const internal of ['transport', 'session', 'subscriptions', 'enqueue', 'flush', 'owner']) assert.equal(internal in view, false, `${internal} is not reachable`);
    assert.throws(() => ((view as { user: string }).user = 'someone-else'), TypeError, 'identity is read-only');
    assert.notEqual(srv.sb.liveConnection(view.id), view, 'the view is not the connection');
    // The facade's lookups give apps the same read-only view, never the live connection.
    assert.equal(srv.sb.getConnection(view.id), view, 'getConnection() returns the view handlers got');
    assert.ok([...srv.sb.connections()].includes(view), 'connections() yields the views');
    for (const c of srv.sb.connections()) for (const internal of ['transport', 'session', 'subscriptions', 'enqueue']) assert.equal(internal in c, false, `${internal} is not reachable through connections()`);

    // The decline: 103 on the wire, a DeclinedError with the app's 404 for middleware and protocols that show statuses.
    assert.equal(err['code'], 103);
    assert.equal(err['message'], 'no such room');
    assert.equal(failures.length, 1);
    const declined = failures[0];
    assert.ok(declined instanceof DeclinedError);
    assert.ok(declined instanceof ReplyError);
    assert.equal(declined.status, 404);
    assert.equal(declined.code, 103);
  } finally {
    c.close();
    await srv.close();
  }
});
