import type { SubscribeOutcome } from '../../protocol.js';
import { encodeClientInfo as encodeInfo } from '../../internal/json.js';
import type { ClientInfo, Publication } from '../../types.js';

export { encodeInfo };

/**
 * JSON encoders for the Centrifugo client protocol v2. Messages are built as strings around the
 * JSON text the server already holds (publication data, connection info), so nothing is parsed
 * or re-serialised here. Every message is one line: raw newlines never appear outside strings.
 */

const q = JSON.stringify;

export function encodePub(pub: Publication): string {
  let s = `{"data":${pub.data}`;
  if (pub.info !== undefined) s += `,"info":${encodeInfo(pub.info)}`;
  if (pub.offset) s += `,"offset":${pub.offset}`;
  if (pub.tags !== undefined) s += `,"tags":${q(pub.tags)}`;
  return s + '}';
}

export function pubPush(channel: string, pub: Publication): string {
  return `{"push":{"channel":${q(channel)},"pub":${encodePub(pub)}}}`;
}

/**
 * A publication for a subscriber that negotiated delta compression: `data` is a JSON string, the
 * publication's JSON text itself (full) or the fossil delta (UTF-8 text) with `"delta":true`.
 */
export function encodeDeltaPub(pub: Publication, delta?: Uint8Array): string {
  let s = `{"data":${q(delta === undefined ? pub.data : Buffer.from(delta.buffer, delta.byteOffset, delta.length).toString('utf8'))}`;
  if (pub.info !== undefined) s += `,"info":${encodeInfo(pub.info)}`;
  if (pub.offset) s += `,"offset":${pub.offset}`;
  if (pub.tags !== undefined) s += `,"tags":${q(pub.tags)}`;
  if (delta !== undefined) s += ',"delta":true';
  return s + '}';
}

export function deltaPubPush(channel: string, pub: Publication, delta?: Uint8Array): string {
  return `{"push":{"channel":${q(channel)},"pub":${encodeDeltaPub(pub, delta)}}}`;
}

/** Channel compaction: pushes addressed by the subscription's numeric id instead of the channel. */
export const byId = {
  pub: (id: number, pub: Publication): string => `{"push":{"id":${id},"pub":${encodePub(pub)}}}`,
  delta: (id: number, pub: Publication, delta?: Uint8Array): string => `{"push":{"id":${id},"pub":${encodeDeltaPub(pub, delta)}}}`,
  join: (id: number, info: ClientInfo): string => `{"push":{"id":${id},"join":{"info":${encodeInfo(info)}}}}`,
  leave: (id: number, info: ClientInfo): string => `{"push":{"id":${id},"leave":{"info":${encodeInfo(info)}}}}`,
};

export function joinPush(channel: string, info: ClientInfo): string {
  return `{"push":{"channel":${q(channel)},"join":{"info":${encodeInfo(info)}}}}`;
}

export function leavePush(channel: string, info: ClientInfo): string {
  return `{"push":{"channel":${q(channel)},"leave":{"info":${encodeInfo(info)}}}}`;
}

export function messagePush(data: string): string {
  return `{"push":{"message":{"data":${data}}}}`;
}

export function unsubscribePush(channel: string, code: number, reason: string): string {
  return `{"push":{"channel":${q(channel)},"unsubscribe":{"code":${code},"reason":${q(reason)}}}}`;
}

export function subscribePush(channel: string, o: SubscribeOutcome): string {
  return `{"push":{"channel":${q(channel)},"subscribe":${subscribeResult(o, true)}}}`;
}

/** A SubscribeResult object; zero values are omitted as the protobuf JSON encoding does. */
export function subscribeResult(o: SubscribeOutcome, serverSide = false): string {
  const parts: string[] = [];
  if (o.ttl !== undefined) parts.push(`"expires":true,"ttl":${o.ttl}`);
  if (o.recoverable) parts.push('"recoverable":true');
  if (o.epoch !== undefined && o.epoch !== '') parts.push(`"epoch":${q(o.epoch)}`);
  if (o.offset) parts.push(`"offset":${o.offset}`);
  if (o.positioned) parts.push('"positioned":true');
  // With delta negotiated, recovered publications come full, their data as JSON strings (the SDK decodes them so).
  const enc = o.delta === true ? (p: Publication) => encodeDeltaPub(p) : encodePub;
  if (o.publications.length > 0 && (!serverSide || o.recovered)) parts.push(`"publications":[${o.publications.map(enc).join(',')}]`);
  if (o.recovered) parts.push('"recovered":true');
  if (o.wasRecovering) parts.push('"was_recovering":true');
  if (o.data !== undefined) parts.push(`"data":${o.data}`);
  if (o.delta === true) parts.push('"delta":true');
  if (o.id !== undefined) parts.push(`"id":${o.id}`);
  return `{${parts.join(',')}}`;
}

export function reply(id: number, key: string, result: string): string {
  return `{"id":${id},${q(key)}:${result}}`;
}

export function errorReply(id: number, code: number, message: string, temporary?: boolean): string {
  return `{"id":${id},"error":{"code":${code},"message":${q(message)}${temporary ? ',"temporary":true' : ''}}}`;
}

export function disconnectPush(code: number, reason: string): string {
  return `{"push":{"disconnect":{"code":${code},"reason":${q(reason)}}}}`;
}

const PUSH_PREFIX = Buffer.from('{"push":');

/**
 * A message as Centrifugo's unidirectional transports frame it: a push without its Reply envelope
 * (`{"push":X}` → `X`, the same bytes, not copied); anything else (the ping `{}`) as it is.
 */
export function unwrapPush(message: Buffer): Buffer {
  if (message.length > PUSH_PREFIX.length + 1 && message[message.length - 1] === 0x7d && message.subarray(0, PUSH_PREFIX.length).equals(PUSH_PREFIX)) {
    return message.subarray(PUSH_PREFIX.length, message.length - 1);
  }
  return message;
}
