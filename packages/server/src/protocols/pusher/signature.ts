import { createHmac, timingSafeEqual } from 'node:crypto';

/** HMAC-SHA256 of `text` with the app secret, lowercase hex. */
export function hmacHex(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('hex');
}

/** Constant-time comparison of two hex strings. */
export function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * A client's `auth` (`<key>:<hex>`) for the string the app backend signed: channel
 * (`socket_id:channel`), presence (`socket_id:channel:channel_data`), sign-in
 * (`socket_id::user::user_data`).
 */
export function authValid(key: string, secret: string, auth: unknown, signed: string): boolean {
  if (typeof auth !== 'string' || !auth.startsWith(`${key}:`)) return false;
  return sameHex(auth.slice(key.length + 1), hmacHex(secret, signed));
}
