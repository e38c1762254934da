/**
 * Pattern subscriptions (issue 21): a subscription to `orders:eu:*` receives every publication on
 * any channel whose name starts with `orders:eu:`. The pattern is a prefix and one trailing `*`;
 * nothing else is a pattern. Matching is an index by prefix: a publication to channel C looks up
 * C's prefixes of the lengths some pattern has (a handful), never every pattern.
 */
import type { Publication, StreamPosition } from './types.js';

/** The tag that carries the matched channel's name on a publication delivered to a pattern subscription. */
export const PATTERN_CHANNEL_TAG = '$channel';

/** At most this many per-channel positions in one pattern subscribe (`data.positions`). */
export const MAX_PATTERN_POSITIONS = 1000;

/** At most this many channels' positions remembered per pattern subscription (oldest forgotten first). */
export const MAX_PATTERN_CHANNELS = 10_000;

/** Whether a subscribe names a pattern (ends with `*`). */
export function isPattern(name: string): boolean {
  return name.length > 1 && name.charCodeAt(name.length - 1) === 42; /* * */
}

/**
 * The prefix of a pattern, or why it is malformed. Well-formed: `<namespace>:<rest>*` with one `*`,
 * at the end, and the namespace's boundary in the prefix (a pattern stays inside its namespace).
 */
export function parsePattern(name: string): { prefix: string } | { error: string } {
  const prefix = name.slice(0, -1);
  if (prefix.includes('*')) return { error: 'malformed pattern: "*" only at the end' };
  const start = prefix.startsWith('$') ? 1 : 0;
  const colon = prefix.indexOf(':', start);
  if (colon < 0) return { error: 'malformed pattern: it must name its namespace ("ns:prefix*")' };
  if (colon === start) return { error: 'malformed pattern: empty namespace' };
  return { prefix };
}

/** One pattern's subscribers on this node, and its broker pattern subscription. */
export interface PatternState<S> {
  readonly prefix: string;
  readonly subs: Set<S>;
  brokerSubscribed: Promise<void> | undefined;
}

/** Prefix → subscribers, with the distinct prefix lengths kept for the lookup. */
export class PatternIndex<S> {
  readonly #byPrefix = new Map<string, PatternState<S>>();
  /** Distinct prefix lengths, ascending, with how many prefixes have each. */
  #lengths: number[] = [];
  readonly #lengthCount = new Map<number, number>();

  get size(): number {
    return this.#byPrefix.size;
  }

  get(prefix: string): PatternState<S> | undefined {
    return this.#byPrefix.get(prefix);
  }

  add(prefix: string, sub: S): PatternState<S> {
    let state = this.#byPrefix.get(prefix);
    if (state === undefined) {
      state = { prefix, subs: new Set(), brokerSubscribed: undefined };
      this.#byPrefix.set(prefix, state);
      const n = this.#lengthCount.get(prefix.length) ?? 0;
      this.#lengthCount.set(prefix.length, n + 1);
      if (n === 0) this.#lengths = [...this.#lengthCount.keys()].sort((a, b) => a - b);
    }
    state.subs.add(sub);
    return state;
  }

  /** Removes `sub`; returns the state when that emptied the pattern (the caller drops the broker subscription). */
  remove(prefix: string, sub: S): PatternState<S> | undefined {
    const state = this.#byPrefix.get(prefix);
    if (state === undefined || !state.subs.delete(sub) || state.subs.size > 0) return undefined;
    this.#byPrefix.delete(prefix);
    const n = this.#lengthCount.get(prefix.length)! - 1;
    if (n === 0) {
      this.#lengthCount.delete(prefix.length);
      this.#lengths = [...this.#lengthCount.keys()].sort((a, b) => a - b);
    } else this.#lengthCount.set(prefix.length, n);
    return state;
  }

  /** Calls `fn` for each pattern whose prefix starts `channel` (a pattern never matches its bare prefix). */
  forEachMatch(channel: string, fn: (state: PatternState<S>) => void): void {
    for (const len of this.#lengths) {
      if (len >= channel.length) break;
      const state = this.#byPrefix.get(channel.slice(0, len));
      if (state !== undefined) fn(state);
    }
  }
}

/** A publication as a pattern subscriber gets it: the matched channel in its tags. */
export function tagged(channel: string, pub: Publication): Publication {
  return { ...pub, tags: { ...pub.tags, [PATTERN_CHANNEL_TAG]: channel } };
}

/** Per-channel positions of a pattern subscription: dedupes recovery overlap and redelivery, per channel. */
export class ChannelPositions {
  readonly #m = new Map<string, StreamPosition>();

  get(channel: string): StreamPosition | undefined {
    return this.#m.get(channel);
  }

  set(channel: string, pos: StreamPosition): void {
    this.#m.delete(channel);
    this.#m.set(channel, pos);
    if (this.#m.size > MAX_PATTERN_CHANNELS) this.#m.delete(this.#m.keys().next().value!);
  }

  /** Whether a publication with offset/epoch is new for `channel` (and records it when so). */
  advance(channel: string, pub: Publication): boolean {
    const off = pub.offset;
    if (off === undefined || off <= 0 || pub.epoch === undefined) return true;
    const known = this.#m.get(channel);
    if (known !== undefined && known.epoch === pub.epoch && off <= known.offset) return false;
    this.set(channel, { offset: off, epoch: pub.epoch });
    return true;
  }
}
