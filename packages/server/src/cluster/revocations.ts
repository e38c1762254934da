import type { Revocation } from './state.js';

/** The claims a revocation is checked against: the token's `jti`, its user and its `iat` (unix seconds). */
export interface RevocableClaims {
  readonly jti?: unknown;
  readonly iat?: unknown;
}

/**
 * The node's copy of every live revocation, so that checks (connect, refresh, subscribe) are map
 * lookups, never an engine round trip. The engine holds the durable list; the node loads it at
 * start, applies new ones as they are announced on the control plane, and reloads the whole list
 * periodically in case an announcement was missed.
 */
export class Revocations {
  readonly #jti = new Map<string, number>();
  readonly #users = new Map<string, { issuedBefore: number; expireAt: number }>();
  #loaded = false;
  #waiters: (() => void)[] = [];

  get size(): number {
    return this.#jti.size + this.#users.size;
  }

  /**
   * Merge the engine's list in, dropping what expired. Never a replacement: a list read before a
   * revocation was stored may arrive after that revocation was announced and applied here, and
   * must not undo it (revocations end only by expiring).
   */
  load(list: readonly Revocation[], now = Date.now()): void {
    for (const [jti, exp] of this.#jti) if (exp <= now) this.#jti.delete(jti);
    for (const [user, u] of this.#users) if (u.expireAt <= now) this.#users.delete(user);
    for (const r of list) this.add(r);
    this.#loaded = true;
    for (const w of this.#waiters.splice(0)) w();
  }

  get isLoaded(): boolean {
    return this.#loaded;
  }

  /** Resolves true once the engine's list was loaded (at once after that), false after `ms` without it. */
  loaded(ms: number): Promise<boolean> | true {
    if (this.#loaded) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(done), 1);
        resolve(false);
      }, ms);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#waiters.push(done);
    });
  }

  add(r: Revocation): void {
    if (r.kind === 'jti') this.#jti.set(r.jti, Math.max(r.expireAt, this.#jti.get(r.jti) ?? 0));
    else {
      const cur = this.#users.get(r.user);
      this.#users.set(r.user, { issuedBefore: Math.max(r.issuedBefore, cur?.issuedBefore ?? 0), expireAt: Math.max(r.expireAt, cur?.expireAt ?? 0) });
    }
  }

  /** Whether a token of `user` with these claims is revoked now. */
  revoked(user: string, claims: RevocableClaims | undefined, now = Date.now()): boolean {
    if (claims === undefined) return false;
    const jti = claims.jti;
    if (typeof jti === 'string' && jti !== '') {
      const exp = this.#jti.get(jti);
      if (exp !== undefined) {
        if (exp > now) return true;
        this.#jti.delete(jti);
      }
    }
    const u = this.#users.get(user);
    if (u !== undefined) {
      if (u.expireAt <= now) this.#users.delete(user);
      else {
        // a token without iat cannot prove it was issued after the cut: revoked with the rest
        const iat = typeof claims.iat === 'number' ? claims.iat : -Infinity;
        if (iat < u.issuedBefore) return true;
      }
    }
    return false;
  }
}
