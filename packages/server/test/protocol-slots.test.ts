// Every protocol has its own slot in the per-publication encode caches: two protocols sharing one
// would hand one protocol's encoded bytes to the other's clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROTOCOL_SLOT_COUNT, PROTOCOL_SLOTS } from '../src/protocol.js';
import { centrifugeProtobufProtocol, centrifugeProtocol } from '../src/protocols/centrifuge/session.js';
import { phoenixProtocol } from '../src/protocols/phoenix/session.js';
import { plainProtocol } from '../src/protocols/plain/session.js';
import { pondProtocol } from '../src/protocols/pond/session.js';
import { pusherProtocol } from '../src/protocols/pusher/index.js';
import { PusherApps } from '../src/protocols/pusher/apps.js';
import { PresenceFold } from '../src/protocols/pusher/presence-fold.js';
import { PusherStats } from '../src/protocols/pusher/stats.js';

test('each wire protocol encodes into its own cache slot, within the cache size', () => {
  const slots = Object.values(PROTOCOL_SLOTS);
  assert.equal(new Set(slots).size, slots.length, 'two protocols share a slot');
  for (const s of slots) assert.ok(s >= 0 && s < PROTOCOL_SLOT_COUNT, `slot ${s} outside the cache`);
  const pusherApps = new PusherApps([{ id: '1', key: 'k', secret: 's' }]);
  const protocols = [centrifugeProtocol(), pondProtocol(), plainProtocol(), phoenixProtocol(), pusherProtocol({ apps: pusherApps, fold: new PresenceFold(), stats: new PusherStats(pusherApps) })];
  for (const p of protocols) assert.equal(p.slot, PROTOCOL_SLOTS[p.name], `${p.name} does not use its slot`);
  // Centrifugo's Protobuf encoding is the same protocol by name, with its own slot (its bytes differ).
  const protobuf = centrifugeProtobufProtocol();
  assert.equal(protobuf.name, 'centrifuge');
  assert.equal(protobuf.slot, PROTOCOL_SLOTS['centrifuge-protobuf']);
  assert.equal(centrifugeProtocol().variant?.(new Set(['centrifuge-protobuf']), new URLSearchParams()).slot, PROTOCOL_SLOTS['centrifuge-protobuf']);
  assert.equal(centrifugeProtocol().variant?.(new Set(), new URLSearchParams('format=protobuf')).slot, PROTOCOL_SLOTS['centrifuge-protobuf']);
  assert.equal(centrifugeProtocol().variant?.(new Set(['centrifuge-json']), new URLSearchParams()).slot, PROTOCOL_SLOTS.centrifuge);
  const all = [...protocols, protobuf];
  assert.equal(new Set(all.map((p) => p.slot)).size, all.length);
});
