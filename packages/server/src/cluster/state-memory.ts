import { DEFAULT_LAST_SEEN_TTL_MS, type Reaped, type Revocation, type StateStore } from './state.js';

interface Member {
  readonly node: string;
  readonly data: string;
  readonly rank: number;
}

/**
 * Cluster state in this process's memory: correct for the nodes that share this instance (one
 * process), lost on restart. Every operation is synchronous underneath, so first/last transitions
 * are exact.
 */
export class MemoryStateStore implements StateStore {
  readonly #groups = new Map<string, Map<string, Member>>();
  #seq = 0;
  /** node → lease expiry (ms) */
  readonly #leases = new Map<string, number>();
  /** node → "group\nmember" entries it holds */
  readonly #byNode = new Map<string, Set<string>>();
  readonly #revoked = new Map<string, Revocation>();
  readonly #seen = new Map<string, { at: number; expires: number }>();
  readonly #now: () => number;
  readonly #lastSeenTtlMs: number;

  constructor(options: { now?: () => number; lastSeenTtlMs?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#lastSeenTtlMs = options.lastSeenTtlMs ?? DEFAULT_LAST_SEEN_TTL_MS;
  }

  async heartbeat(node: string, ttlMs: number): Promise<{ lapsed: boolean }> {
    const lapsed = !this.#leases.has(node);
    this.#leases.set(node, this.#now() + ttlMs);
    return { lapsed };
  }

  async forgetNode(node: string): Promise<void> {
    if (!this.#byNode.get(node)?.size) {
      this.#leases.delete(node);
      this.#byNode.delete(node);
    }
  }

  #next(): number {
    return ++this.#seq;
  }

  async join(group: string, member: string, node: string, data: string, rank = 0): Promise<{ first: boolean; seq: number; added: boolean }> {
    let g = this.#groups.get(group);
    if (g?.has(member)) return { first: false, seq: this.#seq, added: false };
    if (!g) this.#groups.set(group, (g = new Map<string, Member>()));
    const first = g.size === 0;
    g.set(member, { node, data, rank });
    let idx = this.#byNode.get(node);
    if (!idx) this.#byNode.set(node, (idx = new Set()));
    idx.add(`${group}\n${member}`);
    return { first, seq: this.#next(), added: true };
  }

  async leave(group: string, member: string): Promise<{ removed: boolean; last: boolean; seq: number }> {
    const g = this.#groups.get(group);
    const m = g?.get(member);
    if (!g || !m) return { removed: false, last: false, seq: this.#seq };
    g.delete(member);
    this.#byNode.get(m.node)?.delete(`${group}\n${member}`);
    const last = g.size === 0;
    const seq = this.#next();
    if (last) this.#groups.delete(group);
    return { removed: true, last, seq };
  }

  async counts(groups: readonly string[]): Promise<number[]> {
    return groups.map((g) => this.#groups.get(g)?.size ?? 0);
  }

  async reap(limit: number): Promise<Reaped[]> {
    const now = this.#now();
    const out: Reaped[] = [];
    for (const [node, expires] of this.#leases) {
      if (expires > now) continue;
      const idx = this.#byNode.get(node) ?? new Set<string>();
      const rankOf = (entry: string) => {
        const [group, member] = splitEntry(entry);
        return this.#groups.get(group)?.get(member)?.rank ?? 0;
      };
      for (const entry of [...idx].sort((a, b) => rankOf(a) - rankOf(b))) {
        if (out.length >= limit) return out;
        const [group, member] = splitEntry(entry);
        const data = this.#groups.get(group)?.get(member)?.data ?? '';
        const r = await this.leave(group, member);
        idx.delete(entry);
        if (r.removed) out.push({ node, group, member, data, last: r.last, seq: r.seq });
      }
      this.#leases.delete(node);
      this.#byNode.delete(node);
    }
    return out;
  }

  async revoke(r: Revocation): Promise<void> {
    const key = r.kind === 'jti' ? `j:${r.jti}` : `u:${r.user}`;
    const cur = this.#revoked.get(key);
    if (cur && cur.kind === 'user' && r.kind === 'user') {
      this.#revoked.set(key, { ...r, issuedBefore: Math.max(cur.issuedBefore, r.issuedBefore), expireAt: Math.max(cur.expireAt, r.expireAt) });
    } else if (cur) this.#revoked.set(key, { ...r, expireAt: Math.max(cur.expireAt, r.expireAt) });
    else this.#revoked.set(key, r);
  }

  async revocations(): Promise<Revocation[]> {
    const now = this.#now();
    for (const [k, r] of this.#revoked) if (r.expireAt <= now) this.#revoked.delete(k);
    return [...this.#revoked.values()];
  }

  async setLastSeen(user: string, ms: number): Promise<void> {
    const cur = this.#seen.get(user);
    this.#seen.set(user, { at: Math.max(ms, cur?.at ?? 0), expires: this.#now() + this.#lastSeenTtlMs });
  }

  async lastSeen(users: readonly string[]): Promise<(number | undefined)[]> {
    const now = this.#now();
    return users.map((u) => {
      const s = this.#seen.get(u);
      if (s && s.expires <= now) this.#seen.delete(u);
      return s && s.expires > now ? s.at : undefined;
    });
  }

  async close(): Promise<void> {}
}

export function splitEntry(entry: string): [string, string] {
  const i = entry.lastIndexOf('\n');
  return [entry.slice(0, i), entry.slice(i + 1)];
}
