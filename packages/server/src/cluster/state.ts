import type { WebhookJournal } from '../webhooks/journal.js';

/**
 * Cluster state: what the nodes of one server must agree on beyond publications and presence —
 * node liveness, memberships with exactly-once first/last transitions (users online, channels
 * occupied), token revocations and users' last-seen times. One implementation per engine: memory
 * here (one process), Redis, PostgreSQL, NATS and SQLite in their packages. `stateConformance` in
 * `@switchboard/server/testing` checks the contract below.
 *
 * Contract:
 * - `join(group, member, node, data)` adds `member` (held by `node`) to `group` and says whether the
 *   group was empty before, atomically: of any number of concurrent joins to an empty group across
 *   nodes exactly one gets `first: true`. Joining an existing member changes nothing (`first: false`,
 *   `added: false`).
 * - `leave(group, member)` removes it and says whether the group is now empty (`last: true`),
 *   atomically; removing an absent member returns `removed: false, last: false`.
 * - Every join and leave that changes a group returns a sequence number (`seq`) from one counter
 *   of the whole store, increasing across nodes, so the events of a group (a channel, a user) can be
 *   ordered wherever they were made.
 * - `heartbeat(node, ttlMs)` (re)starts the node's lease. A node whose lease lapses is dead: `reap`
 *   (called by every live node) removes its members, each removed entry returned to exactly one
 *   caller with `last` and `seq` as a `leave` would have given. `heartbeat` returns `lapsed: true`
 *   when the node had been reaped (or was unknown): the node then joins its live members again.
 * - Revocations are durable until their `expireAt` (ms), then forgotten; revoking a user twice keeps
 *   the later `issuedBefore` and the later expiry.
 * - `setLastSeen` keeps the latest time per user for `lastSeenTtlMs`.
 */
export interface StateStore {
  heartbeat(node: string, ttlMs: number): Promise<{ lapsed: boolean }>;
  /** The node left cleanly: forget its lease (its members must have left already). */
  forgetNode(node: string): Promise<void>;
  /** `rank`: a dead node's members are reaped lowest rank first (channel memberships before the user's). */
  join(group: string, member: string, node: string, data: string, rank?: number): Promise<{ first: boolean; seq: number; added: boolean }>;
  leave(group: string, member: string): Promise<{ removed: boolean; last: boolean; seq: number }>;
  /** Members of each group, across nodes. */
  counts(groups: readonly string[]): Promise<number[]>;
  /** Members of a dead node, removed (at most `limit` per call). */
  reap(limit: number): Promise<Reaped[]>;

  revoke(r: Revocation): Promise<void>;
  /** Every live revocation. */
  revocations(): Promise<Revocation[]>;

  setLastSeen(user: string, ms: number): Promise<void>;
  lastSeen(users: readonly string[]): Promise<(number | undefined)[]>;
  close(): Promise<void>;

  /**
   * A durable journal for one webhook's queue on `node` (webhooks/journal.ts), where the engine has
   * one: a node's journal is claimable once its lease here has lapsed (or it left). Absent: webhook
   * queues are in memory only.
   */
  webhookJournal?(webhook: string, node: string): WebhookJournal;
}

export interface Reaped {
  readonly node: string;
  readonly group: string;
  readonly member: string;
  readonly data: string;
  readonly last: boolean;
  readonly seq: number;
}

/** A revoked token (`jti`) or every token of a user issued before a time (`iat`, unix seconds). */
export type Revocation =
  | { readonly kind: 'jti'; readonly jti: string; readonly expireAt: number }
  | { readonly kind: 'user'; readonly user: string; readonly issuedBefore: number; readonly expireAt: number };

/** How long last-seen times are kept by default (30 days). */
export const DEFAULT_LAST_SEEN_TTL_MS = 30 * 24 * 3600 * 1000;
