import { Errors, ReplyError } from './codes.js';
import type { Middleware } from './context.js';
import type { Logger } from './logger.js';

/** Logs every command with its outcome and duration (debug), failures at warn. */
export function logging(logger: Logger): Middleware {
  return async (ctx, next) => {
    const started = performance.now();
    try {
      await next();
      logger.debug({ kind: ctx.kind, protocol: ctx.protocol, client: ctx.client?.id, channel: ctx.channel, method: ctx.method, ms: +(performance.now() - started).toFixed(2) }, 'command');
    } catch (err) {
      const code = err instanceof ReplyError ? err.code : undefined;
      logger.warn({ kind: ctx.kind, protocol: ctx.protocol, client: ctx.client?.id, channel: ctx.channel, code, err: code ? undefined : err }, 'command failed');
      throw err;
    }
  };
}

/**
 * Turns exceptions from handlers into an internal error (code 100) for the client, after logging
 * them, so a handler bug costs one reply, never the connection or the process. Coded errors pass.
 */
export function recovery(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof ReplyError || (err instanceof Error && err.name === 'DisconnectError')) throw err;
      logger.error({ err, kind: ctx.kind, client: ctx.client?.id, channel: ctx.channel }, 'handler exception recovered');
      throw new ReplyError(Errors.internal);
    }
  };
}

/**
 * At most `perSecond` commands per connection (token bucket, burst = perSecond), answered with
 * error 111 "too many requests" beyond that. Counts the commands it wraps: mount it on a route to
 * limit that route's events, or on the switchboard to limit everything.
 */
export function rateLimit(options: { perSecond: number; burst?: number }): Middleware {
  const rate = options.perSecond;
  const burst = options.burst ?? rate;
  const buckets = new WeakMap<object, { tokens: number; at: number }>();
  return async (ctx, next) => {
    const key = ctx.client as object | undefined;
    if (key !== undefined) {
      const now = performance.now();
      let b = buckets.get(key);
      if (!b) buckets.set(key, (b = { tokens: burst, at: now }));
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate);
      b.at = now;
      if (b.tokens < 1) throw new ReplyError(Errors.tooManyRequests);
      b.tokens -= 1;
    }
    await next();
  };
}
