import { randomUUID } from 'node:crypto';
import { encodeClientInfo, isObject as isPlainObject } from '../../internal/json.js';
import type { ClientInfo, Publication } from '../../types.js';

/**
 * Frame encoders for the PondSocket wire protocol as `@eleven-am/pondsocket-client@0.0.32`
 * understands it (see PROTOCOL-pondsocket.md). Every frame is one JSON object with `action`,
 * `event`, `channelName`, `requestId` (strings) and a plain-object `payload`: the client throws on
 * anything else, so every payload goes through `objectPayload`.
 */

const q = JSON.stringify;

/** Event names the client acts on whatever the action: never relayed as user events. */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set(['ACKNOWLEDGE', 'UNAUTHORIZED', 'CONNECTION']);

export const ENDPOINT = 'ENDPOINT';

/** A presence entry: `{user, client}` plus `conn_info` / `chan_info`. */
export const presenceEntry = encodeClientInfo;

export { isObject as isPlainObject } from '../../internal/json.js';

/** A payload the client accepts: objects as they are, anything else wrapped as `{data: value}`, nothing as `{}`. */
export function objectPayload(v: unknown): string {
  if (v === undefined) return '{}';
  if (isPlainObject(v)) return q(v);
  return q({ data: v });
}

export function frame(action: string, event: string, channelName: string, requestId: string, payloadJson: string): string {
  return `{"action":${q(action)},"event":${q(event)},"channelName":${q(channelName)},"requestId":${q(requestId)},"payload":${payloadJson}}`;
}

export const connectFrame = (): string => frame('CONNECT', 'CONNECTION', ENDPOINT, randomUUID(), '{}');

export const acknowledgeFrame = (channel: string): string => frame('SYSTEM', 'ACKNOWLEDGE', channel, randomUUID(), '{}');

/** The decline the client understands: `SYSTEM`/`UNAUTHORIZED` (channel goes DECLINED). */
export function declineFrame(channel: string, requestId: string, message: string, statusCode: number, code?: number): string {
  return frame('SYSTEM', 'UNAUTHORIZED', channel, requestId, q(code === undefined ? { message, statusCode } : { message, statusCode, code }));
}

export function errorFrame(channel: string, requestId: string, type: string, message: string, code: number): string {
  return frame('ERROR', type, channel, requestId, q({ message, code }));
}

export function presenceFrame(channel: string, event: 'JOIN' | 'LEAVE' | 'UPDATE', changed: ClientInfo, list: Iterable<ClientInfo>): string {
  const entries: string[] = [];
  for (const info of list) entries.push(presenceEntry(info));
  return frame('PRESENCE', event, channel, randomUUID(), `{"changed":${presenceEntry(changed)},"presence":[${entries.join(',')}]}`);
}

/**
 * A publication as a `BROADCAST` frame ([SB] mapping): data `{event: string, payload?}` gives
 * that event and payload, anything else (or a reserved event name) event `message` with the whole
 * data as payload; non-object payloads are wrapped. The requestId is the one of the client
 * request that caused it (so `sendForResponse` resolves with its echo), else a fresh one.
 */
export function publicationFrame(channel: string, pub: Publication): string {
  let data: unknown;
  try {
    data = JSON.parse(pub.data);
  } catch {
    data = undefined;
  }
  let event = 'message';
  let payload: string;
  if (isPlainObject(data) && typeof data['event'] === 'string' && !RESERVED_EVENTS.has(data['event'])) {
    event = data['event'];
    payload = objectPayload(data['payload']);
  } else payload = isPlainObject(data) ? pub.data : q({ data });
  return frame('BROADCAST', event, channel, pub.delivery?.originRequest ?? randomUUID(), payload);
}

/** A reply to one member (`SYSTEM`, any event name but the reserved ones). */
export function replyFrame(channel: string, event: string, payload: unknown, requestId: string | undefined): string {
  return frame('SYSTEM', RESERVED_EVENTS.has(event) ? 'message' : event, channel, requestId ?? randomUUID(), objectPayload(payload));
}
