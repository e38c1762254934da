import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Revocations } from '../src/cluster/revocations.js';
import type { Revocation } from '../src/cluster/state.js';
import { createSwitchboard, MemoryStateStore } from '../src/index.js';
import { waitFor } from '../src/testing/index.js';

test('a revocation list read before a revocation was stored does not undo it when it arrives after; expired entries go at a load', () => {
  const r = new Revocations();
  const now = 1_000_000;
  r.load([], now);
  r.add({ kind: 'jti', jti: 'j1', expireAt: now + 60_000 });
  r.add({ kind: 'user', user: 'u', issuedBefore: 500, expireAt: now + 60_000 });
  r.add({ kind: 'jti', jti: 'short', expireAt: now + 10 });
  r.load([], now + 20); // the stale list
  assert.equal(r.revoked('x', { jti: 'j1' }, now + 20), true);
  assert.equal(r.revoked('u', { iat: 499 }, now + 20), true);
  assert.equal(r.revoked('u', { iat: 500 }, now + 20), false);
  assert.equal(r.size, 2, 'the expired one went at the load');
  r.load([{ kind: 'jti', jti: 'j2', expireAt: now + 60_000 }], now + 30);
  assert.equal(r.revoked('x', { jti: 'j2' }, now + 30), true);
  assert.equal(r.size, 3);
});

test('a node whose periodic reloads keep reading an old list still refuses a token revoked through it', async (t) => {
  // the engine's list as a reload read it just before the revocations were stored: empty, every time
  class StaleStore extends MemoryStateStore {
    reads = 0;
    override async revocations(): Promise<Revocation[]> {
      this.reads++;
      return [];
    }
  }
  const state = new StaleStore();
  const sb = createSwitchboard({ state, cluster: { revocationReloadMs: 20 } });
  t.after(() => sb.shutdown({ timeoutMs: 100 }));
  await sb.start();
  await sb.revokeToken('stolen', Date.now() + 60_000);
  await sb.invalidateUserTokens('u', 1000, Date.now() + 60_000);
  const after = state.reads;
  await waitFor(() => state.reads >= after + 3, 10_000, 'three reloads after the revocations');
  assert.equal(sb.lifecycle.isRevoked('someone', { jti: 'stolen' }), true);
  assert.equal(sb.lifecycle.isRevoked('u', { iat: 999 }), true);
  assert.equal(sb.lifecycle.isRevoked('u', { iat: 1000 }), false);
});
