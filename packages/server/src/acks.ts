/**
 * Acknowledged delivery (issue 21). In a namespace with `acknowledge: true` (and history), every
 * publication delivered to an authenticated user's subscription is pending for that user until one
 * of the user's connections acknowledges its offset (`$ack` RPC: `{ channel, offsets: [...] }`).
 * Pending publications are sent again after `ackTimeoutMs` (default 10 s) to the user's
 * connections subscribed to the channel, and at once when the user subscribes again (a reconnect).
 * `unacknowledged(channel, offset)` answers which users have not acknowledged a publication.
 *
 * Per node, in memory: the ledger lives where the user's connection is; it is not shared between
 * nodes and does not survive a restart. A pending entry is dropped when the publication would have
 * left the history (`historyTtlMs` after its first delivery) or beyond `MAX_UNACKED` per user and
 * channel (oldest first).
 */
import type { Publication } from './types.js';

/** The RPC method of acknowledgements. */
export const ACK_METHOD = '$ack';
/** At most this many offsets in one `$ack`. */
export const MAX_ACK_OFFSETS = 1000;
export const DEFAULT_ACK_TIMEOUT_MS = 10_000;
/** Pending publications kept per user and channel (the oldest is dropped beyond). */
export const MAX_UNACKED = 1000;

export interface PendingAck {
  readonly pub: Publication;
  /** When it was last sent, ms. */
  sentAt: number;
  /** Sends so far (1: the first delivery). */
  sends: number;
  readonly timeoutMs: number;
  /** Dropped (not redelivered) from then on: the history would not have it any more. */
  readonly expiresAt: number;
}

export interface AckResult {
  readonly acked: number;
  readonly unknown: readonly number[];
}

/** Who a redelivery goes to: the node finds the user's subscribed connections. */
export type Redeliver = (channel: string, user: string, pending: PendingAck) => boolean;

export class AckLedger {
  /** channel → user → offset → pending */
  readonly #pending = new Map<string, Map<string, Map<number, PendingAck>>>();
  #timer: NodeJS.Timeout | undefined;
  #count = 0;
  /** Redeliveries made (tests, metrics). */
  redeliveries = 0;
  /** Entries dropped for the MAX_UNACKED bound or expiry. */
  dropped = 0;

  constructor(
    readonly redeliver: Redeliver,
    readonly now: () => number = Date.now,
    readonly tickMs = 250,
  ) {}

  get size(): number {
    return this.#count;
  }

  /** A publication went out to `user` on `channel`. */
  delivered(channel: string, user: string, pub: Publication, timeoutMs: number, ttlMs: number): void {
    const off = pub.offset;
    if (off === undefined || off <= 0 || user === '') return;
    let byUser = this.#pending.get(channel);
    if (byUser === undefined) this.#pending.set(channel, (byUser = new Map<string, Map<number, PendingAck>>()));
    let m = byUser.get(user);
    if (m === undefined) byUser.set(user, (m = new Map<number, PendingAck>()));
    const known = m.get(off);
    const now = this.now();
    if (known !== undefined) {
      known.sentAt = now; // another connection of the same user, or a recovery overlap
      return;
    }
    m.set(off, { pub, sentAt: now, sends: 1, timeoutMs, expiresAt: now + ttlMs });
    this.#count++;
    if (m.size > MAX_UNACKED) {
      m.delete(m.keys().next().value!);
      this.#count--;
      this.dropped++;
    }
    this.#arm();
  }

  ack(channel: string, user: string, offsets: readonly number[]): AckResult {
    const m = this.#pending.get(channel)?.get(user);
    let acked = 0;
    const unknown: number[] = [];
    for (const off of offsets) {
      if (m !== undefined && m.delete(off)) acked++;
      else unknown.push(off);
    }
    this.#count -= acked;
    if (m !== undefined && m.size === 0) this.#forget(channel, user);
    return { acked, unknown };
  }

  /** Users that were sent `offset` on `channel` and have not acknowledged it (on this node). */
  unacknowledged(channel: string, offset: number): string[] {
    const out: string[] = [];
    for (const [user, m] of this.#pending.get(channel) ?? []) if (m.has(offset)) out.push(user);
    return out.sort();
  }

  /** The user's pending publications of `channel`, oldest offset first. */
  pending(channel: string, user: string): PendingAck[] {
    const m = this.#pending.get(channel)?.get(user);
    return m === undefined ? [] : [...m.values()].sort((a, b) => a.pub.offset! - b.pub.offset!);
  }

  /** Sends `user` every pending publication of `channel` now (a resubscribe), but those in `skip`. */
  resend(channel: string, user: string, skip?: ReadonlySet<number>): void {
    for (const p of this.pending(channel, user)) {
      if (skip?.has(p.pub.offset!)) continue;
      if (this.redeliver(channel, user, p)) {
        p.sentAt = this.now();
        p.sends++;
        this.redeliveries++;
      }
    }
  }

  #forget(channel: string, user: string): void {
    const byUser = this.#pending.get(channel);
    byUser?.delete(user);
    if (byUser !== undefined && byUser.size === 0) this.#pending.delete(channel);
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.tick(), this.tickMs);
    this.#timer.unref();
  }

  /** Redelivers what timed out, drops what expired; stops the timer when nothing is pending. */
  tick(): void {
    const now = this.now();
    for (const [channel, byUser] of this.#pending) {
      for (const [user, m] of byUser) {
        for (const [off, p] of m) {
          if (p.expiresAt <= now) {
            m.delete(off);
            this.#count--;
            this.dropped++;
          } else if (p.sentAt + p.timeoutMs <= now && this.redeliver(channel, user, p)) {
            p.sentAt = now;
            p.sends++;
            this.redeliveries++;
          }
        }
        if (m.size === 0) this.#forget(channel, user);
      }
    }
    if (this.#count === 0) this.close();
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
