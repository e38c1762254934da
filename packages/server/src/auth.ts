import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  importSPKI,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';

export interface TokenOptions {
  /** HS256/384/512 secret. */
  hmacSecret?: string;
  /** PEM (SPKI) RSA public key for RS256/384/512. */
  rsaPublicKey?: string;
  /** PEM (SPKI) ECDSA public key for ES256/384/512. */
  ecdsaPublicKey?: string;
  /** JWKS endpoint; keys are picked by `kid`, cached, and refetched when an unknown `kid` arrives. */
  jwksUrl?: string;
  /** How long fetched JWKS keys are trusted before a refetch (default 10 minutes). */
  jwksCacheMaxAgeMs?: number;
  /**
   * Least time between two JWKS fetches (default 5 s): a token with an unknown `kid` triggers a
   * refetch only past it, so a flood of forged `kid`s cannot hammer the key server.
   */
  jwksCooldownMs?: number;
  /** A JWKS document given inline (tests, air-gapped setups). */
  jwks?: { keys: object[] };
  /** When set, tokens must carry this `aud`. */
  audience?: string;
  /** When set, tokens must carry this `iss`. */
  issuer?: string;
}

/** Tokens longer than this are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

export type TokenFailure = 'invalid' | 'expired';

export class TokenError extends Error {
  constructor(readonly kind: TokenFailure, message: string) {
    super(message);
    this.name = 'TokenError';
  }
}

export interface ConnectionClaims {
  readonly user: string;
  /** Expiry in unix seconds (`expire_at` wins over `exp`); 0 or undefined: never. */
  readonly expireAt?: number;
  /** `info` as JSON text. */
  readonly info?: string;
  readonly channels: readonly string[];
  readonly subs: Readonly<Record<string, { info?: string; data?: string }>>;
  readonly meta?: unknown;
  readonly payload: JWTPayload;
}

export interface SubscriptionClaims {
  readonly user: string;
  readonly channel: string;
  readonly client?: string;
  readonly expireAt?: number;
  readonly info?: string;
  readonly data?: string;
  readonly payload: JWTPayload;
}

const HS = ['HS256', 'HS384', 'HS512'];
const RS = ['RS256', 'RS384', 'RS512'];
const ES = ['ES256', 'ES384', 'ES512'];
const JWKS_ALGS = [...RS, ...ES, 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519'];

function b64json(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  try {
    const text = Buffer.from(v, 'base64').toString('utf8');
    JSON.parse(text);
    return text;
  } catch {
    return undefined;
  }
}

function jsonText(v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : JSON.stringify(v);
}

/**
 * Verifies connection and subscription JWTs the way Centrifugo does: the algorithm must belong to
 * a configured key (so `alg: none` and HS256-signed-with-the-RSA-public-key are refused), the
 * signature is checked first, then `exp`/`nbf` with no leeway, then `aud`/`iss` when configured.
 */
export class TokenVerifier {
  readonly #hmac: Uint8Array | undefined;
  readonly #jwks: JWTVerifyGetKey | undefined;
  readonly #opts: TokenOptions;

  constructor(options: TokenOptions) {
    this.#opts = options;
    this.#hmac = options.hmacSecret ? new TextEncoder().encode(options.hmacSecret) : undefined;
    // importSPKI is bound to one algorithm; the RS/ES family share a key, so import per alg lazily.
    if (options.jwksUrl) {
      this.#jwks = createRemoteJWKSet(new URL(options.jwksUrl), {
        cacheMaxAge: options.jwksCacheMaxAgeMs ?? 10 * 60_000,
        cooldownDuration: options.jwksCooldownMs ?? 5_000,
      });
    } else if (options.jwks) {
      this.#jwks = createLocalJWKSet(options.jwks);
    }
  }

  get configured(): boolean {
    return this.#hmac !== undefined || !!this.#opts.rsaPublicKey || !!this.#opts.ecdsaPublicKey || this.#jwks !== undefined;
  }

  async #verify(token: string): Promise<JWTPayload> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw new TokenError('invalid', 'malformed token');
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new TokenError('invalid', 'malformed token');
    }
    const common = {
      ...(this.#opts.audience ? { audience: this.#opts.audience } : {}),
      ...(this.#opts.issuer ? { issuer: this.#opts.issuer } : {}),
      clockTolerance: 0,
    };
    try {
      if (alg !== undefined && HS.includes(alg) && this.#hmac) {
        return (await jwtVerify(token, this.#hmac, { ...common, algorithms: HS })).payload;
      }
      if (alg !== undefined && RS.includes(alg) && this.#opts.rsaPublicKey) {
        const key = await importSPKI(this.#opts.rsaPublicKey, alg);
        return (await jwtVerify(token, key, { ...common, algorithms: RS })).payload;
      }
      if (alg !== undefined && ES.includes(alg) && this.#opts.ecdsaPublicKey) {
        const key = await importSPKI(this.#opts.ecdsaPublicKey, alg);
        return (await jwtVerify(token, key, { ...common, algorithms: ES })).payload;
      }
      if (alg !== undefined && JWKS_ALGS.includes(alg) && this.#jwks) {
        return (await jwtVerify(token, this.#jwks, { ...common, algorithms: JWKS_ALGS })).payload;
      }
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new TokenError('expired', 'token expired');
      if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'nbf') throw new TokenError('expired', 'token not yet valid');
      throw new TokenError('invalid', err instanceof Error ? err.message : 'invalid token');
    }
    throw new TokenError('invalid', `no key configured for algorithm ${String(alg)}`);
  }

  async verifyConnection(token: string): Promise<ConnectionClaims> {
    const p = await this.#verify(token);
    if ('channel' in p) throw new TokenError('invalid', 'a connection token must not carry a channel claim');
    if (p.sub !== undefined && typeof p.sub !== 'string') throw new TokenError('invalid', 'sub must be a string');
    const channels = Array.isArray(p['channels']) ? (p['channels'] as unknown[]).filter((c): c is string => typeof c === 'string') : [];
    const subs: Record<string, { info?: string; data?: string }> = {};
    const rawSubs = p['subs'];
    if (rawSubs && typeof rawSubs === 'object' && !Array.isArray(rawSubs)) {
      for (const [ch, v] of Object.entries(rawSubs as Record<string, Record<string, unknown>>)) {
        const info = b64json(v?.['b64info']) ?? jsonText(v?.['info']);
        const data = b64json(v?.['b64data']) ?? jsonText(v?.['data']);
        subs[ch] = { ...(info !== undefined ? { info } : {}), ...(data !== undefined ? { data } : {}) };
      }
    }
    const expireAt = typeof p['expire_at'] === 'number' ? p['expire_at'] : p.exp;
    const info = b64json(p['b64info']) ?? jsonText(p['info']);
    return {
      user: p.sub ?? '',
      ...(expireAt ? { expireAt } : {}),
      ...(info !== undefined ? { info } : {}),
      channels,
      subs,
      meta: p['meta'],
      payload: p,
    };
  }

  async verifySubscription(token: string): Promise<SubscriptionClaims> {
    const p = await this.#verify(token);
    if (typeof p['channel'] !== 'string' || p['channel'] === '') throw new TokenError('invalid', 'a subscription token needs a channel claim');
    const expireAt = typeof p['expire_at'] === 'number' ? p['expire_at'] : p.exp;
    const info = b64json(p['b64info']) ?? jsonText(p['info']);
    const data = b64json(p['b64data']) ?? jsonText(p['data']);
    return {
      user: typeof p.sub === 'string' ? p.sub : '',
      channel: p['channel'],
      ...(typeof p['client'] === 'string' ? { client: p['client'] } : {}),
      ...(expireAt ? { expireAt } : {}),
      ...(info !== undefined ? { info } : {}),
      ...(data !== undefined ? { data } : {}),
      payload: p,
    };
  }
}
