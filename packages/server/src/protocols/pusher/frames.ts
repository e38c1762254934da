import { isObject, parseJson as parse } from '../../internal/json.js';
import type { ClientInfo, Publication } from '../../types.js';

/**
 * Pusher frames, server → client: `{"event","channel"?,"data"}` where `data` is a JSON-encoded
 * string for app events and `pusher_internal:*`, and an object for `pusher:error`/`pusher:pong`
 * (docs/protocols/pusher.md).
 */

const q = JSON.stringify;

export function frame(event: string, channel: string | undefined, dataString: string, extra = ''): string {
  return `{"event":${q(event)}${channel === undefined ? '' : `,"channel":${q(channel)}`},"data":${q(dataString)}${extra}}`;
}

export function errorFrame(code: number | null, message: string, channel?: string): string {
  return `{"event":"pusher:error"${channel === undefined ? '' : `,"channel":${q(channel)}`},"data":{"code":${code === null ? 'null' : code},"message":${q(message)}}}`;
}

export function subscriptionErrorFrame(channel: string, type: string, error: string, status: number): string {
  return `{"event":"pusher:subscription_error","channel":${q(channel)},"data":{"type":${q(type)},"error":${q(error)},"status":${status}}}`;
}

/** Event names a publication may never take: the protocol's own. */
export function reservedEvent(name: string): boolean {
  return name.startsWith('pusher:') || name.startsWith('pusher_internal:');
}

/** The member a presence entry stands for: Pusher's channel_data for Pusher clients, the user (and conn info) for the others. */
export interface Member {
  /** The id as Pusher clients sent it (a number stays a number). */
  readonly userId: string | number;
  readonly key: string;
  readonly info: unknown;
}


export function memberOf(info: ClientInfo): Member {
  const c = parse(info.chanInfo);
  if (isObject(c) && (typeof c['user_id'] === 'string' || typeof c['user_id'] === 'number')) {
    return { userId: c['user_id'], key: String(c['user_id']), info: c['user_info'] ?? null };
  }
  const id = info.user !== '' ? info.user : info.client;
  return { userId: id, key: id, info: parse(info.connInfo) ?? null };
}

/**
 * A publication as a Pusher event: data `{event, payload}` gives that event (payload sent as is
 * when a string, JSON-encoded otherwise); any other data, and events with a reserved name, arrive
 * as event `message` carrying the whole data. On presence channels the sender's user id rides along.
 */
export function publicationFrame(pusherChannel: string, pub: Publication): string {
  let event = 'message';
  let data = pub.data;
  if (pub.data.startsWith('{') && pub.data.includes('"event"')) {
    const v = parse(pub.data);
    if (isObject(v) && typeof v['event'] === 'string' && v['event'] !== '' && !reservedEvent(v['event'])) {
      event = v['event'];
      const p = v['payload'];
      data = typeof p === 'string' ? p : p === undefined ? '{}' : q(p);
    }
  }
  let extra = '';
  if (pub.info !== undefined && pusherChannel.startsWith('presence-') && event.startsWith('client-')) {
    extra = `,"user_id":${q(memberOf(pub.info).userId)}`;
  }
  return frame(event, pusherChannel, data, extra);
}
