import type { ClientInfo } from './types.js';

export interface PresenceStats {
  readonly numClients: number;
  readonly numUsers: number;
}

/**
 * Who is in a channel, across all nodes.
 *
 * Contract (checked by the presence conformance suite):
 * - `add` inserts or replaces the entry of `client` in `channel` and (re)starts its expiry: an
 *   entry not refreshed by another `add` within the store's TTL disappears, so a crashed node's
 *   clients leave presence by themselves. Nodes refresh their live entries well within the TTL.
 * - `remove` deletes the entry; removing an absent entry is harmless.
 * - `get` returns every live entry keyed by client id; `stats` counts clients and distinct users
 *   (all anonymous connections, user '', count as one user).
 */
export interface PresenceStore {
  add(channel: string, client: string, info: ClientInfo): Promise<void>;
  remove(channel: string, client: string): Promise<void>;
  get(channel: string): Promise<Map<string, ClientInfo>>;
  stats(channel: string): Promise<PresenceStats>;
  close(): Promise<void>;
}
