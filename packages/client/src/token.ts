/**
 * Connection and subscription JWTs for backends that mint tokens for browsers, with jose.
 * HS256 with a string (or bytes) secret; RS256 / ES256 with a private key (KeyObject or CryptoKey).
 * Claims follow the Centrifugo verifier: `sub`, `exp`, `info`, `channels`, `subs`, `meta`, `expire_at`, `caps`,
 * plus any of the app's own (`claims`, e.g. `orgs` for a namespace's `subscribe_by_claim`);
 * subscription tokens add `channel` (required) and `client`.
 */
import { SignJWT, type JWTPayload } from 'jose';
import type { KeyObject } from 'node:crypto';

export type SigningKey = string | Uint8Array | KeyObject | CryptoKey;
export type SigningAlgorithm = 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'ES256' | 'ES384' | 'ES512';

export interface ConnectionTokenClaims {
  /** The user id (empty string: anonymous). */
  sub: string;
  /** Lifetime: seconds (number) or a jose time span (`'15m'`, `'24h'`). Omit for a token that never expires. */
  expiresIn?: number | string;
  /** Connection info, visible to others in presence and join/leave. */
  info?: unknown;
  /** Server-side subscriptions made on connect. */
  channels?: readonly string[];
  /** Richer server-side subscriptions: channel → options. */
  subs?: Record<string, unknown>;
  /** Server-side metadata (never sent to clients). */
  meta?: unknown;
  /** Unix seconds at which the connection expires, overriding `exp` (0 = never). */
  expireAt?: number;
  audience?: string | string[];
  issuer?: string;
  /** Channel grants (Centrifugo's `caps` claim): `[{ channels: ['trpc:org:7'], allow: ['sub'] }]`. */
  caps?: readonly ChannelCapability[];
  /**
   * More claims, e.g. `{ orgs: ['7'] }` for a namespace's `subscribe_by_claim` (`trpc:org:7`). They
   * may not set a claim this signer sets itself (`sub`, `exp`, `iat`, `info`, `channels`…).
   */
  claims?: Record<string, unknown>;
}

/** One `caps` entry: what a connection may do on some channels (exact names, or `*` with `match: 'wildcard'`). */
export interface ChannelCapability {
  channels: readonly string[];
  allow: readonly ('sub' | 'pub' | 'prs' | 'hst')[];
  match?: 'wildcard';
}

const RESERVED = new Set(['sub', 'exp', 'iat', 'nbf', 'aud', 'iss', 'info', 'b64info', 'channels', 'subs', 'meta', 'expire_at', 'caps', 'channel']);

export interface SubscriptionTokenClaims {
  sub: string;
  channel: string;
  /** Only this client id may use it. */
  client?: string;
  expiresIn?: number | string;
  info?: unknown;
  data?: unknown;
  expireAt?: number;
  audience?: string | string[];
  issuer?: string;
}

export interface SignOptions {
  /** Defaults: HS256 for strings and bytes, RS256 for RSA keys, ES256/384/512 for EC keys by curve. */
  algorithm?: SigningAlgorithm;
}

export async function signConnectionToken(claims: ConnectionTokenClaims, key: SigningKey, options: SignOptions = {}): Promise<string> {
  if (!claims || typeof claims.sub !== 'string') throw new TypeError('signConnectionToken: `sub` must be a string (empty for anonymous)');
  const payload: JWTPayload = { sub: claims.sub };
  for (const [k, v] of Object.entries(claims.claims ?? {})) {
    if (RESERVED.has(k)) throw new TypeError(`signConnectionToken: claims.${k} is set by its own option`);
    payload[k] = v;
  }
  if (claims.caps !== undefined) payload.caps = claims.caps.map((c) => ({ ...c, channels: [...c.channels], allow: [...c.allow] }));
  if (claims.info !== undefined) payload.info = claims.info;
  if (claims.channels !== undefined) payload.channels = [...claims.channels];
  if (claims.subs !== undefined) payload.subs = claims.subs;
  if (claims.meta !== undefined) payload.meta = claims.meta;
  if (claims.expireAt !== undefined) payload.expire_at = claims.expireAt;
  return sign(payload, claims, key, options);
}

export async function signSubscriptionToken(claims: SubscriptionTokenClaims, key: SigningKey, options: SignOptions = {}): Promise<string> {
  if (!claims || typeof claims.sub !== 'string') throw new TypeError('signSubscriptionToken: `sub` must be a string');
  if (typeof claims.channel !== 'string' || claims.channel === '') throw new TypeError('signSubscriptionToken: `channel` is required');
  const payload: JWTPayload = { sub: claims.sub, channel: claims.channel };
  if (claims.client !== undefined) payload.client = claims.client;
  if (claims.info !== undefined) payload.info = claims.info;
  if (claims.data !== undefined) payload.data = claims.data;
  if (claims.expireAt !== undefined) payload.expire_at = claims.expireAt;
  return sign(payload, claims, key, options);
}

async function sign(
  payload: JWTPayload,
  claims: { expiresIn?: number | string; audience?: string | string[]; issuer?: string },
  key: SigningKey,
  options: SignOptions,
): Promise<string> {
  const alg = options.algorithm ?? defaultAlgorithm(key);
  let jwt = new SignJWT(payload).setProtectedHeader({ alg, typ: 'JWT' }).setIssuedAt();
  if (claims.expiresIn !== undefined) {
    if (typeof claims.expiresIn === 'number') {
      if (!Number.isFinite(claims.expiresIn) || claims.expiresIn <= 0) throw new TypeError('expiresIn must be a positive number of seconds');
      jwt = jwt.setExpirationTime(Math.floor(Date.now() / 1000) + Math.ceil(claims.expiresIn));
    } else jwt = jwt.setExpirationTime(claims.expiresIn);
  }
  if (claims.audience !== undefined) jwt = jwt.setAudience(claims.audience);
  if (claims.issuer !== undefined) jwt = jwt.setIssuer(claims.issuer);
  const k = typeof key === 'string' ? new TextEncoder().encode(key) : key;
  if (typeof key === 'string' && key.length === 0) throw new TypeError('the HMAC secret must not be empty');
  return jwt.sign(k);
}

function defaultAlgorithm(key: SigningKey): SigningAlgorithm {
  if (typeof key === 'string' || key instanceof Uint8Array) return 'HS256';
  if ('asymmetricKeyType' in key && typeof key.export === 'function') {
    const ko = key;
    if (ko.type === 'secret') return 'HS256';
    if (ko.asymmetricKeyType === 'rsa') return 'RS256';
    if (ko.asymmetricKeyType === 'ec') return curveAlg(ko.asymmetricKeyDetails?.namedCurve);
    throw new TypeError(`no default algorithm for ${ko.asymmetricKeyType} keys: pass { algorithm }`);
  }
  const ck = key as CryptoKey;
  const name = ck.algorithm?.name;
  if (name === 'HMAC') return 'HS256';
  if (name === 'RSASSA-PKCS1-v1_5') return 'RS256';
  if (name === 'ECDSA') return curveAlg((ck.algorithm as { namedCurve?: string }).namedCurve);
  throw new TypeError(`no default algorithm for ${String(name)} keys: pass { algorithm }`);
}

function curveAlg(curve: string | undefined): SigningAlgorithm {
  if (curve === 'P-384' || curve === 'secp384r1') return 'ES384';
  if (curve === 'P-521' || curve === 'secp521r1') return 'ES512';
  return 'ES256';
}
