import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';
import { MemoryStateStore, type StateStore } from '../src/index.js';
import { waitFor } from '../src/testing/index.js';
import { clusterFeaturesScenario, featureOptions, jwt, startFeatureNode } from './cluster-features.js';

test('token revocation, user status and connection queries on one node (memory)', async (t) => {
  // the state store stands for the engine: a restarted node on it keeps the revocations
  const state = new MemoryStateStore();
  const node = await startFeatureNode({ ...featureOptions(), state: shared(state) });
  t.after(() => node.close());
  await clusterFeaturesScenario(t, [node], () => startFeatureNode({ ...featureOptions(), state: shared(state) }));
});

test('user status: explicit activity moves last_seen at most once per activityIntervalMs per connection (the bounded cost)', async (t) => {
  const state = new MemoryStateStore();
  const writes: string[] = [];
  const store = shared(state, (user) => writes.push(user));
  const node = await startFeatureNode({ ...featureOptions(), userStatus: { activityIntervalMs: 60_000 }, state: store });
  t.after(() => node.close());
  const open = async () => {
    const c = new Centrifuge(node.ws, { websocket: WebSocket, token: await jwt({ sub: 'busy' }) });
    t.after(() => c.disconnect());
    c.connect();
    await c.ready(10_000);
    return c;
  };
  const a = await open();
  await waitFor(() => writes.length === 1, 10_000, 'the connect writes last_seen');
  for (let i = 0; i < 5; i++) await a.rpc('update_user_status', {}); // each answered after its write, if any
  assert.deepEqual(writes, ['busy', 'busy'], 'five activity calls in a row: one write');
  const b = await open(); // another connection has its own interval
  await waitFor(() => writes.length === 3, 10_000, "the second connection's connect");
  await b.rpc('update_user_status', {});
  await b.rpc('update_user_status', {});
  await a.rpc('update_user_status', {});
  assert.equal(writes.length, 4, "one more write: b's first activity; a's next is inside its interval");
});

/** The shared store, with a no-op close (each node closes its store at shutdown); `onLastSeen` hears each last-seen write. */
function shared(s: MemoryStateStore, onLastSeen?: (user: string) => void): StateStore {
  return {
    heartbeat: (n, ttl) => s.heartbeat(n, ttl),
    forgetNode: (n) => s.forgetNode(n),
    join: (g, m, n, d, r) => s.join(g, m, n, d, r),
    leave: (g, m) => s.leave(g, m),
    counts: (g) => s.counts(g),
    reap: (l) => s.reap(l),
    revoke: (r) => s.revoke(r),
    revocations: () => s.revocations(),
    setLastSeen: (u, ms) => (onLastSeen?.(u), s.setLastSeen(u, ms)),
    lastSeen: (u) => s.lastSeen(u),
    close: async () => {},
  };
}
