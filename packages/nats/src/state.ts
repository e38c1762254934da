import { randomUUID } from 'node:crypto';
import type { Reaped, Revocation, StateStore, WebhookJournal } from '@switchboard/server';
import { DEFAULT_LAST_SEEN_TTL_MS } from '@switchboard/server';
import type { JetStreamClient, JetStreamManager, KV, KvEntry, StoredMsg } from 'nats';
import { type NatsConnectionOptions, NatsLink, token } from './link.js';

/** A group: member → [node, node generation, data, rank]. */
interface GroupDoc {
  /** The group's name (keys hold it encoded). */
  n: string;
  m: Record<string, [string, string, string, number]>;
}

/** A node's lease: its TTL and generation; generations taken for dead (to reap) and who reaps them. */
interface LeaseDoc {
  node: string;
  ttl: number;
  gen: string;
  /** The lease lapsed: the node is gone until a heartbeat starts a new generation. */
  lapsed?: true;
  /** Generations whose members are to be reaped, with when they were found dead (server ms). */
  dead: [string, number][];
  /** The store instance reaping this node's dead generations, until (server ms). */
  reaper?: [string, number];
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Direct get by subject from a sequence on (stream `allow_direct`); untyped on JetStreamManager in the client. */
function nextBySubject(jsm: JetStreamManager, stream: string, subject: string, seq: number): Promise<StoredMsg> {
  return (jsm as JetStreamManager & { direct: { getMessage(s: string, q: { next_by_subj: string; seq: number }): Promise<StoredMsg> } }).direct.getMessage(stream, { next_by_subj: subject, seq });
}
const CAS_ATTEMPTS = 100;

function isConflict(err: unknown): boolean {
  const m = err instanceof Error ? err.message : String(err);
  return /wrong last sequence|key exists|10071/i.test(m);
}

function live(e: KvEntry | null): e is KvEntry {
  return e !== null && e.operation === 'PUT';
}

/**
 * Cluster state in a JetStream key-value bucket (`<prefix>_state`, one value per key), every
 * change a compare-and-set on the key's revision (the StateStore contract of @switchboard/server):
 *
 * - A group is one key (`g.<group>`) holding its members, so first/last are decided by the CAS
 *   that changes it, and `seq` is the revision that CAS wrote: one counter for the whole bucket,
 *   increasing, in the order of a group's changes. Cost: a change rewrites the group's members
 *   (O(members), bounded by the server's max payload: about 1 MB, some 10,000 members per group).
 * - A node's lease is `l.<node>` with its TTL; its age is the entry's server timestamp against
 *   the server's clock (read by writing `clock`). A lapsed lease is marked and its generation
 *   queued for reaping; the node's next heartbeat is told `lapsed` and starts a new generation
 *   (members joined under it are not reaped). One store instance at a time reaps a node (a claim
 *   in its lease, for a TTL), scanning the groups for that node's dead generations, lowest rank
 *   first; each member removed by a CAS, so once.
 */
export class NatsStateStore implements StateStore {
  readonly link: NatsLink;
  readonly #lastSeenTtlMs: number;
  readonly #id = randomUUID();
  /** node → its current generation, as this instance's heartbeats set it. */
  readonly #gens = new Map<string, string>();
  #kv: Promise<KV> | undefined;

  constructor(options: (NatsConnectionOptions | { link: NatsLink }) & { lastSeenTtlMs?: number }) {
    this.link = 'link' in options ? options.link.acquire() : new NatsLink(options).acquire();
    this.#lastSeenTtlMs = options.lastSeenTtlMs ?? DEFAULT_LAST_SEEN_TTL_MS;
    if (!(this.#lastSeenTtlMs >= 1)) throw new RangeError('lastSeenTtlMs must be positive');
  }

  ready(): Promise<KV> {
    this.#kv ??= (async () => {
      const { js } = await this.link.jetstream();
      return js.views.kv(`${this.link.prefix}_state`, { history: 1 });
    })();
    this.#kv.catch(() => {
      this.#kv = undefined;
    });
    return this.#kv;
  }

  /** Read-modify-write of one JSON key by CAS; `fn` returns the new value, or undefined to leave it. Resolves to fn's result and the written revision. */
  async #cas<T, R>(key: string, fn: (cur: T | undefined, e: KvEntry | null) => { value?: T; result: R }): Promise<{ result: R; revision: number | undefined; entry: KvEntry | null }> {
    const kv = await this.ready();
    for (let attempt = 0; ; attempt++) {
      const e = await kv.get(key);
      const cur = live(e) ? e.json<T>() : undefined;
      const { value, result } = fn(cur, e);
      if (value === undefined) return { result, revision: undefined, entry: e };
      try {
        const data = enc.encode(JSON.stringify(value));
        const revision = live(e) ? await kv.update(key, data, e.revision) : await kv.create(key, data);
        return { result, revision, entry: e };
      } catch (err) {
        if (!isConflict(err) || attempt >= CAS_ATTEMPTS) throw err;
      }
    }
  }

  /**
   * Keys matching `filter`, from the bucket stream's subject index (one request; deleted keys are
   * listed too, their tombstone being the last message: callers skip entries that are not PUTs).
   * Not `kv.keys()`, an ordered consumer that decides it is done from a pending count.
   */
  async #keys(filter: string): Promise<string[]> {
    await this.ready();
    const { jsm } = await this.link.jetstream();
    const bucket = `${this.link.prefix}_state`;
    const prefix = `$KV.${bucket}.`;
    const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: prefix + filter });
    return Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length));
  }

  /** The server's clock (ms): the timestamp of a write. */
  async #now(): Promise<number> {
    const kv = await this.ready();
    await kv.put('clock', enc.encode(this.#id));
    const e = await kv.get('clock');
    return e ? e.created.getTime() : Date.now();
  }

  #lease(node: string): string {
    return `l.${token(node)}`;
  }

  #group(group: string): string {
    return `g.${token(group)}`;
  }

  async heartbeat(node: string, ttlMs: number): Promise<{ lapsed: boolean }> {
    const ttl = Math.ceil(ttlMs);
    const { result } = await this.#cas<LeaseDoc, { lapsed: boolean; gen: string }>(this.#lease(node), (cur) => {
      if (cur && !cur.lapsed) return { value: { ...cur, ttl }, result: { lapsed: false, gen: cur.gen } };
      const gen = randomUUID().slice(0, 12);
      return { value: { node, ttl, gen, dead: cur?.dead ?? [], ...(cur?.reaper ? { reaper: cur.reaper } : {}) }, result: { lapsed: true, gen } };
    });
    this.#gens.set(node, result.gen);
    return { lapsed: result.lapsed };
  }

  async forgetNode(node: string): Promise<void> {
    const kv = await this.ready();
    const e = await kv.get(this.#lease(node));
    if (!live(e)) return;
    const doc = e.json<LeaseDoc>();
    if (doc.dead.length > 0) return; // members still to reap
    // its members left already (the contract): the lease can go; a concurrent heartbeat wins
    await kv.delete(this.#lease(node), { previousSeq: e.revision }).catch(() => {});
  }

  async join(group: string, member: string, node: string, data: string, rank = 0): Promise<{ first: boolean; seq: number; added: boolean }> {
    const gen = this.#gens.get(node) ?? '0';
    const { result, revision, entry } = await this.#cas<GroupDoc, { first: boolean; added: boolean }>(this.#group(group), (cur) => {
      const m = cur?.m ?? {};
      if (member in m) return { result: { first: false, added: false } };
      return { value: { n: group, m: { ...m, [member]: [node, gen, data, rank] } }, result: { first: Object.keys(m).length === 0, added: true } };
    });
    return { ...result, seq: revision ?? entry?.revision ?? 0 };
  }

  /** Removes `member` (when `only` accepts it) by CAS; deletes an emptied group's key when nothing joined meanwhile. */
  async #remove(group: string, member: string, only?: (rec: [string, string, string, number]) => boolean): Promise<{ removed: boolean; last: boolean; seq: number; rec?: [string, string, string, number] }> {
    const key = this.#group(group);
    const { result, revision, entry } = await this.#cas<GroupDoc, { removed: boolean; last: boolean; rec?: [string, string, string, number] }>(key, (cur) => {
      const rec = cur?.m[member];
      if (!cur || !rec || (only && !only(rec))) return { result: { removed: false, last: false } };
      const m = { ...cur.m };
      delete m[member];
      return { value: { n: group, m }, result: { removed: true, last: Object.keys(m).length === 0, rec } };
    });
    if (result.last && revision !== undefined) {
      const kv = await this.ready();
      await kv.delete(key, { previousSeq: revision }).catch(() => {}); // a join came first: it stays
    }
    return { ...result, seq: revision ?? entry?.revision ?? 0 };
  }

  async leave(group: string, member: string): Promise<{ removed: boolean; last: boolean; seq: number }> {
    const { removed, last, seq } = await this.#remove(group, member);
    return { removed, last, seq };
  }

  async counts(groups: readonly string[]): Promise<number[]> {
    const kv = await this.ready();
    return Promise.all(
      groups.map(async (g) => {
        const e = await kv.get(this.#group(g));
        return live(e) ? Object.keys(e.json<GroupDoc>().m).length : 0;
      }),
    );
  }

  async reap(limit: number): Promise<Reaped[]> {
    const kv = await this.ready();
    const now = await this.#now();
    const leases = await this.#keys('l.>');
    const out: Reaped[] = [];
    for (const key of leases) {
      if (out.length >= limit) break;
      // mark a lapsed lease; claim its dead generations for this instance (one reaper at a time)
      const { result: job } = await this.#cas<LeaseDoc, { node: string; gens: string[]; ttl: number } | undefined>(key, (cur, e) => {
        if (!cur || !e) return { result: undefined };
        let doc = cur;
        if (!doc.lapsed && e.created.getTime() + doc.ttl <= now) doc = { ...doc, lapsed: true, dead: [...doc.dead, [doc.gen, now]] };
        if (doc.dead.length === 0) return { result: undefined };
        if (doc.reaper && doc.reaper[0] !== this.#id && doc.reaper[1] > now) return doc === cur ? { result: undefined } : { value: doc, result: undefined };
        return { value: { ...doc, reaper: [this.#id, now + doc.ttl] }, result: { node: doc.node, gens: doc.dead.map((d) => d[0]), ttl: doc.ttl } };
      });
      if (!job) continue;
      const node = job.node;
      const gens = new Set(job.gens);
      // the node's members of dead generations, lowest rank first
      const found: { group: string; member: string; rank: number }[] = [];
      const groupKeys = await this.#keys('g.>');
      for (const gk of groupKeys) {
        const e = await kv.get(gk);
        if (!live(e)) continue;
        const doc = e.json<GroupDoc>();
        for (const [member, [n, gen, , rank]] of Object.entries(doc.m)) if (n === node && gens.has(gen)) found.push({ group: doc.n, member, rank });
      }
      found.sort((a, b) => a.rank - b.rank);
      for (const f of found) {
        if (out.length >= limit) break;
        const r = await this.#remove(f.group, f.member, (rec) => rec[0] === node && gens.has(rec[1]));
        if (r.removed && r.rec) out.push({ node, group: f.group, member: f.member, data: r.rec[2], last: r.last, seq: r.seq });
      }
      if (out.length < limit) {
        // nothing of those generations left: forget them (once dead for a TTL, so joins in flight at the lapse landed); release the claim
        await this.#cas<LeaseDoc, undefined>(key, (cur) => {
          if (!cur) return { result: undefined };
          const dead = cur.dead.filter(([g, since]) => !(gens.has(g) && now - since > cur.ttl));
          const { reaper: _, ...rest } = cur;
          return { value: { ...rest, dead }, result: undefined };
        });
        const e = await kv.get(key);
        if (live(e)) {
          const doc = e.json<LeaseDoc>();
          if (doc.lapsed && doc.dead.length === 0) await kv.delete(key, { previousSeq: e.revision }).catch(() => {});
        }
      }
    }
    return out;
  }

  async revoke(r: Revocation): Promise<void> {
    const key = r.kind === 'jti' ? `rev.${token(`j:${r.jti}`)}` : `rev.${token(`u:${r.user}`)}`;
    await this.#cas<Revocation, undefined>(key, (cur) => {
      if (!cur) return { value: r, result: undefined };
      const expireAt = Math.max(cur.expireAt, r.expireAt);
      if (cur.kind === 'user' && r.kind === 'user') return { value: { ...r, issuedBefore: Math.max(cur.issuedBefore, r.issuedBefore), expireAt }, result: undefined };
      return { value: { ...r, expireAt }, result: undefined };
    });
  }

  async revocations(): Promise<Revocation[]> {
    const kv = await this.ready();
    const now = Date.now();
    const out: Revocation[] = [];
    const keys = await this.#keys('rev.>');
    for (const k of keys) {
      const e = await kv.get(k);
      if (!live(e)) continue;
      const r = e.json<Revocation>();
      if (r.expireAt <= now) await kv.delete(k, { previousSeq: e.revision }).catch(() => {});
      else out.push(r);
    }
    return out;
  }

  async setLastSeen(user: string, ms: number): Promise<void> {
    const expires = Date.now() + this.#lastSeenTtlMs;
    await this.#cas<{ at: number; x: number }, undefined>(`seen.${token(user)}`, (cur) => ({ value: { at: Math.max(cur && cur.x > Date.now() ? cur.at : 0, Math.floor(ms)), x: expires }, result: undefined }));
  }

  async lastSeen(users: readonly string[]): Promise<(number | undefined)[]> {
    const kv = await this.ready();
    const now = Date.now();
    return Promise.all(
      users.map(async (u) => {
        const e = await kv.get(`seen.${token(u)}`);
        if (!live(e)) return undefined;
        const v = e.json<{ at: number; x: number }>();
        return v.x > now ? v.at : undefined;
      }),
    );
  }

  #journal: Promise<{ js: JetStreamClient; jsm: JetStreamManager; stream: string }> | undefined;

  /** The webhook journal stream `<prefix>_webhooks` (subjects `<prefix>.webhook.<webhook>.<node>`). */
  #journalStream(): Promise<{ js: JetStreamClient; jsm: JetStreamManager; stream: string }> {
    this.#journal ??= (async () => {
      const { js, jsm } = await this.link.jetstream();
      const stream = `${this.link.prefix}_webhooks`;
      await jsm.streams.add({ name: stream, subjects: [`${this.link.prefix}.webhook.>`], allow_direct: true });
      return { js, jsm, stream };
    })();
    this.#journal.catch(() => {
      this.#journal = undefined;
    });
    return this.#journal;
  }

  /** Whether the node behind a lease key token holds a live lease (server clock `now`). */
  async #alive(nodeToken: string, now: number): Promise<boolean> {
    const kv = await this.ready();
    const e = await kv.get(`l.${nodeToken}`);
    if (!live(e)) return false;
    const doc = e.json<LeaseDoc>();
    return !doc.lapsed && e.created.getTime() + doc.ttl > now;
  }

  /**
   * A webhook queue's journal: messages on `<prefix>.webhook.<webhook>.<node>` of the
   * `<prefix>_webhooks` stream, keyed by stream sequence, deleted once delivered. A claimer copies
   * a dead node's message to its own subject, then deletes the original: the delete succeeds for one
   * claimer only, a loser deletes its copy (so at least once, never lost).
   */
  webhookJournal(webhook: string, node: string): WebhookJournal {
    const base = `${this.link.prefix}.webhook.${token(webhook)}`;
    const mine = `${base}.${token(node)}`;
    const seqs = (keys: readonly string[]) => keys.filter((k) => /^\d{1,16}$/.test(k)).map(Number);
    return {
      append: async (entry) => {
        const { js } = await this.#journalStream();
        return String((await js.publish(mine, enc.encode(entry))).seq);
      },
      remove: async (keys) => {
        const { jsm, stream } = await this.#journalStream();
        await Promise.all(seqs(keys).map((seq) => jsm.streams.deleteMessage(stream, seq, false).catch(() => false)));
      },
      claim: async (limit) => {
        const { js, jsm, stream } = await this.#journalStream();
        const now = await this.#now();
        const info = await jsm.streams.info(stream, { subjects_filter: `${base}.*` });
        const out: { key: string; entry: string }[] = [];
        for (const subject of Object.keys(info.state.subjects ?? {})) {
          if (out.length >= limit) break;
          if (subject === mine || (await this.#alive(subject.slice(base.length + 1), now))) continue;
          let from = 1;
          while (out.length < limit) {
            let m: StoredMsg;
            try {
              m = await nextBySubject(jsm, stream, subject, from);
            } catch {
              break; // none left
            }
            from = m.seq + 1;
            const copy = (await js.publish(mine, m.data)).seq;
            const won = await jsm.streams.deleteMessage(stream, m.seq, false).catch(() => false);
            if (won) out.push({ key: String(copy), entry: dec.decode(m.data) });
            else await jsm.streams.deleteMessage(stream, copy, false).catch(() => false);
          }
        }
        return out;
      },
      size: async () => {
        const { jsm, stream } = await this.#journalStream();
        const info = await jsm.streams.info(stream, { subjects_filter: mine });
        return info.state.subjects?.[mine] ?? 0;
      },
    };
  }

  async close(): Promise<void> {
    await this.link.release();
  }
}
