import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeControl, encodeControl, type ControlMessage, SessionRouter } from '../src/index.js';
import { silentLogger } from '../src/logger.js';

/** Routers of several nodes on one simulated control plane: every message reaches every node, as over a broker. */
function cluster(ids: string[], opts: { drop?: (m: ControlMessage) => boolean } = {}) {
  const routers = new Map<string, SessionRouter>();
  for (const id of ids) {
    const send = async (m: ControlMessage) => {
      if (opts.drop?.(m)) return;
      const text = encodeControl(m, id);
      setImmediate(() => {
        for (const r of routers.values()) {
          const d = decodeControl(text);
          assert.ok(d.ok, 'a route message must decode');
          if (d.message.op === 'route') r.onRoute(d.message);
          if (d.message.op === 'route-reply') r.onRouteReply(d.message);
        }
      });
    };
    routers.set(id, new SessionRouter(id, send, (n) => ids.includes(n), silentLogger));
  }
  return routers;
}

test('a request reaches the session on its own node at once and on another node over the control plane', async () => {
  const r = cluster(['a', 'b', 'c']);
  const seen: string[] = [];
  for (const [id, router] of r) router.register('k', (session, data) => (session === `s-${id}` ? (seen.push(`${id}:${data}`), 'ok') : 'no-session'));
  assert.equal(await r.get('a')!.deliver('k', 'a', 's-a', 'local'), 'ok');
  assert.equal(await r.get('a')!.deliver('k', 'b', 's-b', 'remote'), 'ok');
  assert.equal(await r.get('c')!.deliver('k', 'b', 's-nope', 'x'), 'no-session');
  assert.deepEqual(seen, ['a:local', 'b:remote'], 'only the addressee handled it, once');
  assert.equal(r.get('b')!.routedIn, 2, 'the remote request and the one for an unknown session');
});

test('an unknown node is refused without sending; a lost request times out; another kind is not served', async () => {
  let sent = 0;
  const r = cluster(['a', 'b'], { drop: (m) => (sent++, m.op === 'route' && m.session === 'lost') });
  r.get('b')!.register('k', () => 'ok');
  assert.equal(await r.get('a')!.deliver('k', 'zz', 's', 'x'), 'unknown-node');
  assert.equal(sent, 0);
  assert.equal(await r.get('a')!.deliver('k', 'b', 'lost', 'x', { timeoutMs: 200 }), 'timeout');
  assert.equal(await r.get('a')!.deliver('other', 'b', 's', 'x'), 'no-session');
  assert.throws(() => r.get('b')!.register('k', () => 'ok'), /registered already/);
});

test('a handler that throws answers bad-request; closing settles waiting requests', async () => {
  const r = cluster(['a', 'b'], { drop: (m) => m.op === 'route' && m.session === 'never' });
  r.get('b')!.register('k', () => {
    throw new Error('boom');
  });
  assert.equal(await r.get('a')!.deliver('k', 'b', 's', 'x'), 'bad-request');
  const pending = r.get('a')!.deliver('k', 'b', 'never', 'x', { timeoutMs: 60_000 });
  await new Promise((res) => setImmediate(res));
  r.get('a')!.close();
  assert.equal(await pending, 'timeout');
});
