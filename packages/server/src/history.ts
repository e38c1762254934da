import type { HistoryOptions, Publication, StreamPosition } from './types.js';

export interface HistoryReadOptions {
  /** Publications after this position (before it when `reverse`). The epoch must match the stream's. */
  readonly since?: StreamPosition;
  /** 0: none, only the position; -1: all that is kept; N: at most N. */
  readonly limit: number;
  readonly reverse?: boolean;
}

export interface HistoryReadResult {
  readonly publications: Publication[];
  /** The stream's current top. */
  readonly position: StreamPosition;
}

/** Thrown by `read` when `since.epoch` is not the stream's epoch. */
export class EpochMismatchError extends Error {
  constructor(readonly position: StreamPosition) {
    super('unrecoverable position: epoch mismatch');
    this.name = 'EpochMismatchError';
  }
}

/**
 * A bounded, expiring log of publications per channel.
 *
 * Contract (checked by the history conformance suite):
 * - A stream has an epoch: a random string fixed when the stream is created and changed only when
 *   the stream is lost (removed, expired metadata, store restarted). `position()` of an unknown
 *   channel creates the stream: offset 0 and a fresh epoch.
 * - `append` is atomic: it assigns offset = top + 1 (starting at 1), stores the publication with
 *   its offset and epoch, trims the stream to `size` (oldest first) and keeps entries for `ttlMs`.
 *   Offsets never repeat and have no gaps within one epoch.
 * - `read` returns publications in offset order (descending with `reverse`), each carrying its
 *   offset and epoch (never `delivery`, which is not stored), and the current top. `since` with
 *   another epoch throws EpochMismatchError; an empty `since.epoch` matches any epoch. Trimmed or
 *   expired publications are simply absent: the caller compares offsets to see the gap.
 * - Each publication expires `ttlMs` after its own append; the stream's epoch and top outlive them
 *   for `metaTtlMs` after the last append (then the stream is lost: new epoch, offset 0).
 * - After `remove`, the next `position` or `append` starts a new epoch at offset 0.
 */
export interface HistoryStore {
  append(channel: string, pub: Publication, options: HistoryOptions): Promise<StreamPosition>;
  read(channel: string, options: HistoryReadOptions): Promise<HistoryReadResult>;
  position(channel: string): Promise<StreamPosition>;
  remove(channel: string): Promise<void>;
  close(): Promise<void>;
}
