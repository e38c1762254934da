import type { Publication } from '@switchboard/server';

interface ChannelOrder {
  epoch: string;
  /** The highest offset handed on. */
  last: number;
  /** Publications that arrived ahead of a missing offset, by offset. */
  held: Map<number, Publication>;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Puts a channel's history publications back into offset order before they reach the node.
 *
 * JetStream stores a channel's appends in offset order (the expected-last-subject-sequence check),
 * but the server republishes a stored message after releasing the stream's lock, so two appends
 * made at once from different connections can leave the server in the opposite order (seen under
 * heavy load: offset 104 delivered before 103). The node would take that for a gap and make the
 * channel's subscribers resync. A publication ahead of the next expected offset is held until the
 * missing ones arrive; if they have not arrived after `holdMs` (really lost, e.g. a slow-consumer
 * drop), what is held is handed on in offset order and the node's gap handling takes over.
 * The first publication seen on a channel, one of a new epoch, and one at or below the last
 * offset handed on pass at once.
 */
export class OffsetReorder {
  readonly #channels = new Map<string, ChannelOrder>();

  constructor(
    readonly holdMs: number,
    readonly emit: (channel: string, pub: Publication) => void,
    /** At most this many channels remembered: beyond it the oldest with nothing held is forgotten (its next publication passes at once). */
    readonly maxChannels = Infinity,
  ) {}

  push(channel: string, pub: Publication): void {
    const offset = pub.offset ?? 0;
    const epoch = pub.epoch ?? '';
    let o = this.#channels.get(channel);
    if (o === undefined || o.epoch !== epoch) {
      if (o !== undefined) this.#release(channel, o);
      else if (this.#channels.size >= this.maxChannels) this.#evictOne();
      o = { epoch, last: offset, held: new Map(), timer: undefined };
      this.#channels.set(channel, o);
      this.emit(channel, pub);
      return;
    }
    if (offset <= o.last) {
      this.emit(channel, pub); // a repeat or a late one: the node judges it
      return;
    }
    if (offset > o.last + 1) {
      o.held.set(offset, pub);
      o.timer ??= setTimeout(() => this.#release(channel, o), this.holdMs).unref();
      return;
    }
    o.last = offset;
    this.emit(channel, pub);
    for (let next = o.held.get(o.last + 1); next !== undefined; next = o.held.get(o.last + 1)) {
      o.held.delete(o.last + 1);
      o.last++;
      this.emit(channel, next);
    }
    if (o.held.size === 0 && o.timer !== undefined) {
      clearTimeout(o.timer);
      o.timer = undefined;
    }
  }

  /** Hands on everything held for the channel, in offset order (the missing ones are not coming). */
  #release(channel: string, o: ChannelOrder): void {
    if (o.timer !== undefined) clearTimeout(o.timer);
    o.timer = undefined;
    const offsets = [...o.held.keys()].sort((a, b) => a - b);
    const pubs = offsets.map((k) => o.held.get(k)!);
    o.held.clear();
    if (offsets.length > 0) o.last = Math.max(o.last, offsets[offsets.length - 1]!);
    for (const p of pubs) this.emit(channel, p);
  }

  #evictOne(): void {
    for (const [channel, o] of this.#channels) {
      if (o.held.size === 0) {
        this.#channels.delete(channel);
        return;
      }
    }
  }

  /** Channels remembered (for tests and leak checks). */
  get channelCount(): number {
    return this.#channels.size;
  }

  /** Publications held (for tests and leak checks). */
  get heldCount(): number {
    let n = 0;
    for (const o of this.#channels.values()) n += o.held.size;
    return n;
  }

  /** The node no longer listens to the channel: drop its state (what is held would reach no one). */
  forget(channel: string): void {
    const o = this.#channels.get(channel);
    if (o?.timer !== undefined) clearTimeout(o.timer);
    this.#channels.delete(channel);
  }

  close(): void {
    for (const o of this.#channels.values()) if (o.timer !== undefined) clearTimeout(o.timer);
    this.#channels.clear();
  }
}
