import type { PresenceStats, PresenceStore } from './presence.js';
import type { ClientInfo } from './types.js';

interface Entry {
  info: ClientInfo;
  expiresAt: number;
}

export const DEFAULT_PRESENCE_TTL_MS = 60_000;

/** Presence in this process's memory (one node). Entries expire after `ttlMs` unless re-added. */
export class MemoryPresenceStore implements PresenceStore {
  readonly #channels = new Map<string, Map<string, Entry>>();
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #sweep: NodeJS.Timeout;

  constructor(options: { ttlMs?: number; now?: () => number } = {}) {
    this.#ttlMs = options.ttlMs ?? DEFAULT_PRESENCE_TTL_MS;
    this.#now = options.now ?? Date.now;
    this.#sweep = setInterval(() => this.#sweepExpired(), Math.max(1000, Math.min(this.#ttlMs, 30_000)));
    this.#sweep.unref();
  }

  async add(channel: string, client: string, info: ClientInfo): Promise<void> {
    let m = this.#channels.get(channel);
    if (m === undefined) this.#channels.set(channel, (m = new Map<string, Entry>()));
    m.set(client, { info, expiresAt: this.#now() + this.#ttlMs });
  }

  async remove(channel: string, client: string): Promise<void> {
    const m = this.#channels.get(channel);
    if (m === undefined) return;
    m.delete(client);
    if (m.size === 0) this.#channels.delete(channel);
  }

  #live(channel: string): Map<string, Entry> | undefined {
    const m = this.#channels.get(channel);
    if (m === undefined) return undefined;
    const now = this.#now();
    for (const [k, e] of m) if (e.expiresAt <= now) m.delete(k);
    if (m.size === 0) {
      this.#channels.delete(channel);
      return undefined;
    }
    return m;
  }

  async get(channel: string): Promise<Map<string, ClientInfo>> {
    const out = new Map<string, ClientInfo>();
    const m = this.#live(channel);
    if (m) for (const [k, e] of m) out.set(k, e.info);
    return out;
  }

  async stats(channel: string): Promise<PresenceStats> {
    const m = this.#live(channel);
    if (!m) return { numClients: 0, numUsers: 0 };
    const users = new Set<string>();
    for (const e of m.values()) users.add(e.info.user);
    return { numClients: m.size, numUsers: users.size };
  }

  /** Number of channels with entries (for leak checks). */
  get channelCount(): number {
    return this.#channels.size;
  }

  #sweepExpired(): void {
    for (const ch of [...this.#channels.keys()]) this.#live(ch);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    this.#channels.clear();
  }
}
