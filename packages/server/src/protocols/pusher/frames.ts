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

/** A JSON text's value, or `NOT_JSON`. */
const NOT_JSON = Symbol('not JSON');
function valueOf(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return NOT_JSON;
  }
}

/**
 * The `data` string of a Pusher event whose payload is `p` (`raw`: its JSON text, when known).
 * A string goes as it is, unless it is itself JSON text: then JSON-encoded, so that a client that
 * parses `data` (pusher-js does, when it can) gets that string back and not the value it spells.
 * Anything else goes as its JSON text: the original bytes when known.
 */
function dataOf(p: unknown, raw: string | undefined): string {
  if (typeof p === 'string') return valueOf(p) === NOT_JSON ? p : (raw ?? q(p));
  return raw ?? (p === undefined ? '{}' : q(p));
}

/**
 * The HTTP API's publication of a Pusher event, as the JSON text `{"event":…,"payload":…}` with the
 * event's `data` string inside it byte for byte when that string is JSON (else as a JSON string),
 * so that `publicationFrame` can hand Pusher clients the original bytes back.
 */
export function eventPublication(event: string, data: string): string {
  return `{"event":${q(event)},"payload":${valueOf(data) === NOT_JSON ? q(data) : data}}`;
}

/**
 * A publication as a Pusher event: data `{event, payload}` gives that event, with payload as the
 * `data` string (see `dataOf`: byte for byte when the publication's text is exactly
 * `{"event":…,"payload":…}`, as the HTTP API and `JSON.stringify({event, payload})` make it);
 * any other data, and events with a reserved name, arrive as event `message` carrying the whole
 * data. On presence channels the sender's user id rides along.
 */
export function publicationFrame(pusherChannel: string, pub: Publication): string {
  let event = 'message';
  let data = pub.data;
  if (pub.data.startsWith('{') && pub.data.includes('"event"')) {
    const v = parse(pub.data);
    if (isObject(v) && typeof v['event'] === 'string' && v['event'] !== '' && !reservedEvent(v['event'])) {
      event = v['event'];
      // The payload's own bytes, when the text is exactly {"event":…,"payload":<one JSON value>}.
      const head = `{"event":${q(event)},"payload":`;
      let raw: string | undefined;
      if (pub.data.startsWith(head) && pub.data.endsWith('}')) {
        const text = pub.data.slice(head.length, -1);
        if (valueOf(text) !== NOT_JSON) raw = text;
      }
      data = dataOf(v['payload'], raw);
    }
  }
  let extra = '';
  if (pub.info !== undefined && pusherChannel.startsWith('presence-') && event.startsWith('client-')) {
    extra = `,"user_id":${q(memberOf(pub.info).userId)}`;
  }
  return frame(event, pusherChannel, data, extra);
}
