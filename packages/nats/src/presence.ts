import type { ClientInfo, PresenceStats, PresenceStore } from '@switchboard/server';
import type { KV } from 'nats';
import { withTimeout } from './broker.js';
import { type NatsConnectionOptions, NatsLink, token } from './link.js';

export const DEFAULT_PRESENCE_TTL_MS = 60_000;

interface Entry {
  /** The client's info. */
  i: ClientInfo;
  /** Expires at (ms since the epoch). */
  x: number;
}

/**
 * Presence in a JetStream key-value bucket (`<prefix>_presence`), one key per channel and client
 * (`<channel>.<client>`, both as subject tokens). The bucket's max age is the TTL, so an entry not
 * refreshed by another `add` disappears by itself (a crashed node's clients leave presence); each
 * value also carries its expiry, so reads drop an entry at exactly its TTL.
 * `get` lists a channel's keys from the stream's subject index and reads each key's last value.
 */
export class JetStreamPresenceStore implements PresenceStore {
  readonly link: NatsLink;
  readonly ttlMs: number;
  #kv: Promise<KV> | undefined;

  constructor(options: (NatsConnectionOptions | { link: NatsLink }) & { ttlMs?: number }) {
    this.link = 'link' in options ? options.link.acquire() : new NatsLink(options).acquire();
    this.ttlMs = options.ttlMs ?? DEFAULT_PRESENCE_TTL_MS;
    if (!(this.ttlMs >= 100)) throw new RangeError('presence ttl must be at least 100 ms');
  }

  /** Creates (or binds) the bucket; rejects with a clear error without JetStream. */
  ready(): Promise<KV> {
    this.#kv ??= (async () => {
      const { js } = await this.link.jetstream();
      return js.views.kv(this.link.names.presenceBucket, { ttl: this.ttlMs, history: 1 });
    })();
    this.#kv.catch(() => {
      this.#kv = undefined;
    });
    return this.#kv;
  }

  async add(channel: string, client: string, info: ClientInfo): Promise<void> {
    const kv = await this.ready();
    const e: Entry = { i: info, x: Date.now() + this.ttlMs };
    await kv.put(`${token(channel)}.${token(client)}`, JSON.stringify(e));
  }

  async remove(channel: string, client: string): Promise<void> {
    const kv = await this.ready();
    await kv.delete(`${token(channel)}.${token(client)}`);
  }

  async get(channel: string): Promise<Map<string, ClientInfo>> {
    const kv = await this.ready();
    const { jsm } = await this.link.jetstream();
    const bucket = this.link.names.presenceBucket;
    const prefix = `$KV.${bucket}.`;
    const out = new Map<string, ClientInfo>();
    const now = Date.now();
    // The channel's keys from the stream's own subject index, then each key's last value. A KV watch
    // would be one request, but it decides "caught up" from a pending count taken at its start, and
    // an entry that expires (max age) before it is delivered leaves it waiting for ever.
    const info = await withTimeout(
      jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}${token(channel)}.*` }),
      5000,
      'NATS presence read',
    );
    const keys = Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length));
    const entries = await withTimeout(
      Promise.all(keys.map((k) => kv.get(k))),
      5000,
      'NATS presence read',
    );
    for (const e of entries) {
      if (e === null || e.operation !== 'PUT') continue; // expired, deleted or purged
      const v = JSON.parse(e.string()) as Entry;
      if (v.x > now) out.set(v.i.client, v.i);
    }
    return out;
  }

  async stats(channel: string): Promise<PresenceStats> {
    const all = await this.get(channel);
    const users = new Set<string>();
    for (const i of all.values()) users.add(i.user);
    return { numClients: all.size, numUsers: users.size };
  }

  async close(): Promise<void> {
    await this.link.release();
  }
}
