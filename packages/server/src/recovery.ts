import type { Publication, StreamPosition } from './types.js';

/** What a history read since the client's position gave: publications, or an epoch mismatch. */
export type HistorySince = { readonly publications: readonly Publication[]; readonly position: StreamPosition } | { readonly mismatch: StreamPosition };

export interface RecoveryResult {
  readonly recovered: boolean;
  /** The stream's position now: the subscription continues from here. */
  readonly position: StreamPosition;
  /** Offset the reply reports: the client's own when recovered, the stream's otherwise. */
  readonly offset: number;
  /** Publications the client missed, in order (empty unless recovered). */
  readonly publications: readonly Publication[];
}

/**
 * Whether a client at `from` can be brought up to date from `read` (at most `max` publications):
 * the same epoch (or the client does not know one), no more than `max` missed, and the missed ones
 * exactly fill the gap from `from.offset + 1` to the stream's top. Pure: no I/O, no state.
 */
export function recover(from: StreamPosition, read: HistorySince, max: number): RecoveryResult {
  if ('mismatch' in read) return { recovered: false, position: read.mismatch, offset: read.mismatch.offset, publications: [] };
  const { position: pos, publications: pubs } = read;
  const recovered =
    (from.epoch === '' || from.epoch === pos.epoch) &&
    pubs.length <= max &&
    (pubs.length === 0 ? pos.offset === from.offset : pubs[0]!.offset === from.offset + 1 && pubs[pubs.length - 1]!.offset === pos.offset);
  if (!recovered) return { recovered: false, position: pos, offset: pos.offset, publications: [] };
  return { recovered: true, position: pos, offset: from.offset, publications: pubs };
}
