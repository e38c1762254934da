/**
 * Emulation routing across two nodes on a shared engine (NATS, PostgreSQL; Redis runs its own
 * balancer test): the official SDK opens its stream on node A and sends every later command to
 * node B's `/emulation`, so each one must cross the engine's control plane to reach the session.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Centrifuge } from 'centrifuge';
import { createSwitchboard, type Switchboard, type SwitchboardOptions } from '../src/index.js';
import { SECRET, once, token, until } from './helpers.js';
import { sdkOver } from './http-transport-helpers.js';

export interface RoutingNode {
  sb: Switchboard;
  base: string;
  close(): Promise<void>;
}

/** A node serving HTTP-streaming, SSE and the emulation endpoint on `engine` (its broker, history, presence…). */
export async function startRoutingNode(engine: SwitchboardOptions, name: string): Promise<RoutingNode> {
  const sb = createSwitchboard({
    ...engine,
    name,
    token: { hmacSecret: SECRET },
    namespaces: { chat: { allowSubscribeForClient: true, allowPublishForSubscriber: true, allowPresenceForSubscriber: true, presence: true } },
  });
  sb.rpc('whereami', (ctx) => ({ node: name, user: ctx.client.user }));
  const http = createServer((_req, res) => res.writeHead(404).end());
  for (const transport of ['http_stream', 'sse', 'emulation'] as const) sb.attach(http, { transport });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  await sb.start();
  return {
    sb,
    base: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    async close() {
      await sb.shutdown({ timeoutMs: 500 });
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

export async function emulationRoutingScenario(a: RoutingNode, b: RoutingNode): Promise<void> {
  await until(async () => (await a.sb.info()).nodes.length === 2 && (await b.sb.info()).nodes.length === 2, 15_000, 'both nodes known');
  const clients: Centrifuge[] = [];
  try {
    const got: Record<string, unknown[]> = {};
    for (const transport of ['http_stream', 'sse'] as const) {
      // The stream on A, every emulation request on B.
      const c = sdkOver(a.base, transport, { token: await token({ sub: `route-${transport}` }) }, b.base);
      clients.push(c);
      const connected = once<{ client: string }>(c, 'connected', 15_000);
      c.connect();
      const id = (await connected).client;
      assert.ok(a.sb.getConnection(id), `${transport}: the session lives on A`);
      assert.equal(b.sb.getConnection(id), undefined, `${transport}: and not on B`);
      const sub = c.newSubscription('chat:routed');
      got[transport] = [];
      sub.on('publication', (p) => got[transport]!.push(p.data));
      const ok = once(sub, 'subscribed', 15_000);
      sub.subscribe(); // through B
      await ok;
      assert.deepEqual(await c.rpc('whereami', {}), { data: { node: 'A', user: `route-${transport}` } }, 'the RPC ran on the node holding the session');
    }
    const routedBefore = b.sb.router.routedOut;
    const subs = clients.map((c) => c.getSubscription('chat:routed')!);
    // Client publications (through B to A), then app code on B (through the broker).
    await subs[0]!.publish({ n: 1, from: 'http_stream' });
    await subs[1]!.publish({ n: 2, from: 'sse' });
    await b.sb.publish('chat:routed', { n: 3, from: 'B' });
    await until(() => Object.values(got).every((l) => l.length === 3), 15_000, 'three publications at both clients');
    for (const l of Object.values(got)) assert.deepEqual(l.map((d) => (d as { n: number }).n), [1, 2, 3]);
    const pres = await subs[0]!.presence();
    assert.equal(Object.keys(pres.clients).length, 2);
    assert.ok(b.sb.router.routedOut >= routedBefore + 3, `B routed the publishes and the presence call to A (${b.sb.router.routedOut - routedBefore})`);
    assert.equal(a.sb.router.routedIn, b.sb.router.routedOut, 'every request B routed reached A');

    // Bad requests at B: a session A does not hold, and a node no one is.
    const nodeA = a.sb.router.nodeId;
    const post = (body: unknown) => fetch(`${b.base}/emulation`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await post({ session: 'no-such-session', node: nodeA, data: '{"id":9,"ping":{}}' })).status, 404, 'an unknown session on the other node');
    assert.equal((await post({ session: 'no-such-session', node: 'no-such-node', data: '{"id":9,"ping":{}}' })).status, 404, 'an unknown node');
    // The clients are unaffected.
    await b.sb.publish('chat:routed', { n: 4, from: 'B' });
    await until(() => Object.values(got).every((l) => l.length === 4), 15_000, 'the fourth publication');
  } finally {
    for (const c of clients) c.disconnect();
  }
}
