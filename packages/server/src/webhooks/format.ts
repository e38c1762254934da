import { createHmac, timingSafeEqual } from 'node:crypto';
import type { LifecycleEvent } from '../cluster/lifecycle.js';

/** One HTTP request carrying a batch of events. */
export interface WebhookRequest {
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * How a batch becomes an HTTP request: the plug-in point for other webhook dialects (Pusher's
 * `{time_ms, events}` with `X-Pusher-Signature`, ...). `accepts` picks the events the dialect sends
 * (the others never enter the queue); `encode` builds the body and headers, signing included.
 */
export interface WebhookFormat<E = LifecycleEvent> {
  accepts?(event: E): boolean;
  encode(batch: readonly E[], now: number): WebhookRequest;
}

export const SIGNATURE_HEADER = 'x-switchboard-signature';
export const TIMESTAMP_HEADER = 'x-switchboard-timestamp';

/** `v1=` + hex HMAC-SHA256 of `<timestamp>.<body>` with the secret. */
export function sign(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Switchboard's own format: `POST {"events":[...]}` (each event as `LifecycleEvent`, snake_case
 * names unchanged), `X-Switchboard-Timestamp: <unix ms>` and `X-Switchboard-Signature: v1=<hex>`,
 * the HMAC-SHA256 of `<timestamp>.<body>`: a receiver checks the signature and that the timestamp is
 * recent (`verifyWebhook`), which stops a captured request from being replayed later.
 */
export function switchboardFormat(secret: string): WebhookFormat {
  if (typeof secret !== 'string' || secret.length < 16) throw new Error('webhook secret: at least 16 characters');
  return {
    encode(batch, now) {
      const body = JSON.stringify({ events: batch });
      return { body, headers: { 'content-type': 'application/json', [TIMESTAMP_HEADER]: String(now), [SIGNATURE_HEADER]: sign(secret, now, body) } };
    },
  };
}

/**
 * For receivers: whether `body` was signed with `secret` at `timestamp` (header values as received)
 * no longer than `toleranceMs` ago (5 minutes by default). Constant-time comparison.
 */
export function verifyWebhook(secret: string, body: string, timestamp: string | undefined, signature: string | undefined, toleranceMs = 5 * 60_000, now = Date.now()): boolean {
  if (timestamp === undefined || signature === undefined || !/^\d{1,16}$/.test(timestamp)) return false;
  const t = Number(timestamp);
  if (Math.abs(now - t) > toleranceMs) return false;
  const want = Buffer.from(sign(secret, t, body));
  const got = Buffer.from(signature);
  return want.length === got.length && timingSafeEqual(want, got);
}
