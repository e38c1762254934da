import { EpochMismatchError, type HistoryReadOptions, type HistoryReadResult, type HistoryStore } from './history.js';
import { newEpoch } from './internal/ids.js';
import type { HistoryOptions, Publication, StreamPosition } from './types.js';

interface Entry {
  readonly pub: Publication;
  readonly expiresAt: number;
}

interface Stream {
  epoch: string;
  top: number;
  entries: Entry[];
  /** When the stream's metadata (epoch, top) expires. */
  metaExpiresAt: number;
}

const DEFAULT_META_TTL_MS = 30 * 24 * 3600 * 1000;

/**
 * History in this process's memory: one node only, lost on restart (a restart changes every epoch,
 * so clients are told they could not recover). Expired streams are swept periodically.
 */
export class MemoryHistoryStore implements HistoryStore {
  readonly #streams = new Map<string, Stream>();
  readonly #sweep: NodeJS.Timeout;
  readonly #now: () => number;

  constructor(options: { sweepIntervalMs?: number; now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#sweep = setInterval(() => this.#sweepExpired(), options.sweepIntervalMs ?? 10_000);
    this.#sweep.unref();
  }

  #stream(channel: string): Stream {
    const now = this.#now();
    let s = this.#streams.get(channel);
    if (s === undefined || s.metaExpiresAt <= now) {
      s = { epoch: newEpoch(), top: 0, entries: [], metaExpiresAt: now + DEFAULT_META_TTL_MS };
      this.#streams.set(channel, s);
    }
    return s;
  }

  #live(s: Stream): Entry[] {
    const now = this.#now();
    let i = 0;
    while (i < s.entries.length && s.entries[i]!.expiresAt <= now) i++;
    if (i > 0) s.entries.splice(0, i);
    return s.entries;
  }

  async append(channel: string, pub: Publication, options: HistoryOptions): Promise<StreamPosition> {
    const r = this.appendSync(channel, pub, options);
    return { offset: r.offset, epoch: r.epoch };
  }

  /** Synchronous append, so the memory broker can assign offsets and dispatch in one step. */
  appendSync(channel: string, pub: Publication, options: HistoryOptions): StreamPosition & { pub: Publication } {
    const now = this.#now();
    const s = this.#stream(channel);
    s.top += 1;
    s.metaExpiresAt = now + (options.metaTtlMs ?? DEFAULT_META_TTL_MS);
    const stored: Publication = { ...pub, offset: s.top, epoch: s.epoch, delivery: undefined };
    delete (stored as { delivery?: unknown }).delivery;
    const entries = this.#live(s);
    entries.push({ pub: stored, expiresAt: now + options.ttlMs });
    if (entries.length > options.size) entries.splice(0, entries.length - options.size);
    return { offset: s.top, epoch: s.epoch, pub: stored };
  }

  async read(channel: string, options: HistoryReadOptions): Promise<HistoryReadResult> {
    const s = this.#stream(channel);
    const position = { offset: s.top, epoch: s.epoch };
    if (options.since !== undefined && options.since.epoch !== '' && options.since.epoch !== s.epoch) {
      throw new EpochMismatchError(position);
    }
    const limit = options.limit;
    if (limit === 0) return { publications: [], position };
    const entries = this.#live(s);
    let pubs: Publication[];
    if (options.reverse) {
      const before = options.since?.offset ?? Number.POSITIVE_INFINITY;
      pubs = [];
      for (let i = entries.length - 1; i >= 0; i--) {
        const p = entries[i]!.pub;
        if (p.offset! < before) pubs.push(p);
        if (limit > 0 && pubs.length >= limit) break;
      }
    } else {
      const after = options.since?.offset ?? 0;
      pubs = [];
      for (const e of entries) {
        if (e.pub.offset! > after) pubs.push(e.pub);
        if (limit > 0 && pubs.length >= limit) break;
      }
    }
    return { publications: pubs, position };
  }

  async position(channel: string): Promise<StreamPosition> {
    const s = this.#stream(channel);
    return { offset: s.top, epoch: s.epoch };
  }

  async remove(channel: string): Promise<void> {
    this.#streams.delete(channel);
  }

  #sweepExpired(): void {
    const now = this.#now();
    for (const [ch, s] of this.#streams) {
      if (s.metaExpiresAt <= now) this.#streams.delete(ch);
      else this.#live(s);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    this.#streams.clear();
  }
}
