import type { ChannelOptions } from './channels.js';
import { Errors, ReplyError } from './codes.js';
import type { Client, PublishContext } from './context.js';
import { capAllows, type Claims } from './grants.js';

/** What the permission rules need of a connection. */
export interface Member {
  readonly user: string;
  readonly subscriptions: ReadonlyMap<string, unknown>;
  /** The connection token's claims: a `caps` grant allows what the rules would not. */
  readonly claims: Claims;
}

/** Centrifugo's permission rules for publish, presence and history (insecure mode allows all). */
export function can(conn: Member, o: ChannelOptions, what: 'publish' | 'presence' | 'history', channel: string, insecure: boolean): boolean {
  if (insecure || capAllows(conn.claims, channel, what === 'publish' ? 'pub' : what === 'presence' ? 'prs' : 'hst')) return true;
  const anonymous = conn.user === '';
  const subscribed = conn.subscriptions.has(channel);
  if (what === 'publish') {
    if (anonymous && o.allowPublishForAnonymous !== true && o.allowPublishForClient === true) return subscribed && o.allowPublishForSubscriber === true;
    return o.allowPublishForClient === true || (o.allowPublishForSubscriber === true && subscribed);
  }
  if (what === 'presence') {
    if (anonymous && o.allowPresenceForAnonymous !== true && o.allowPresenceForClient === true) return subscribed && o.allowPresenceForSubscriber === true;
    return o.allowPresenceForClient === true || (o.allowPresenceForSubscriber === true && subscribed);
  }
  if (anonymous && o.allowHistoryForAnonymous !== true && o.allowHistoryForClient === true) return subscribed && o.allowHistoryForSubscriber === true;
  return o.allowHistoryForClient === true || (o.allowHistoryForSubscriber === true && subscribed);
}

/** What an `onPublish` handler changed about a publication it allowed. */
export interface PublishChanges {
  /** JSON text to publish instead of the client's data. */
  data?: string;
  skipHistory?: boolean;
}

/**
 * The one publish-permission check, for client publications and unhandled client events: the
 * namespace rules, then the app's `onPublish` (true allows, false refuses, anything else defers to
 * the rules; it may replace the data or skip history). Throws 103 permission denied.
 */
export async function authorizePublish(
  conn: Member,
  client: Client,
  o: ChannelOptions,
  channel: string,
  data: unknown,
  insecure: boolean,
  onPublish: ((ctx: PublishContext) => unknown) | undefined,
): Promise<PublishChanges> {
  const allowed = can(conn, o, 'publish', channel, insecure);
  const changes: PublishChanges = {};
  if (onPublish) {
    const verdict = await onPublish({
      client,
      channel,
      data,
      allowedByNamespace: allowed,
      replaceData(d, options) {
        const text = options?.raw ? (d as string) : JSON.stringify(d);
        if (typeof text !== 'string') throw new ReplyError(Errors.badRequest, 'data must be a JSON value');
        changes.data = text;
      },
      skipHistory() {
        changes.skipHistory = true;
      },
    });
    if (verdict === false || (verdict !== true && !allowed)) throw new ReplyError(Errors.permissionDenied);
  } else if (!allowed) throw new ReplyError(Errors.permissionDenied);
  return changes;
}
