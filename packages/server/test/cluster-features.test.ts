import { test } from 'node:test';
import { MemoryStateStore, type StateStore } from '../src/index.js';
import { clusterFeaturesScenario, featureOptions, startFeatureNode } from './cluster-features.js';

test('token revocation, user status and connection queries on one node (memory)', async (t) => {
  // the state store stands for the engine: a restarted node on it keeps the revocations
  const state = new MemoryStateStore();
  const node = await startFeatureNode({ ...featureOptions(), state: shared(state) });
  t.after(() => node.close());
  await clusterFeaturesScenario(t, [node], () => startFeatureNode({ ...featureOptions(), state: shared(state) }));
});

/** The shared store, with a no-op close (each node closes its store at shutdown). */
function shared(s: MemoryStateStore): StateStore {
  return {
    heartbeat: (n, ttl) => s.heartbeat(n, ttl),
    forgetNode: (n) => s.forgetNode(n),
    join: (g, m, n, d, r) => s.join(g, m, n, d, r),
    leave: (g, m) => s.leave(g, m),
    counts: (g) => s.counts(g),
    reap: (l) => s.reap(l),
    revoke: (r) => s.revoke(r),
    revocations: () => s.revocations(),
    setLastSeen: (u, ms) => s.setLastSeen(u, ms),
    lastSeen: (u) => s.lastSeen(u),
    close: async () => {},
  };
}
