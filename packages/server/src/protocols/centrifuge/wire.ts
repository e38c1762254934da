import { isUtf8 } from 'node:buffer';
import { Disconnects, type DisconnectValue, Errors, ReplyError } from '../../codes.js';
import { isObject } from '../../internal/json.js';
import type { Protocol, SubscribeOutcome } from '../../protocol.js';
import type { PresenceStats } from '../../presence.js';
import type { ClientInfo, Publication } from '../../types.js';
import { splitLines } from '../session-base.js';
import * as c from './codec.js';

/** One decoded client command: `id` plus one method key holding its request object. */
export type Cmd = Record<string, unknown> & { id?: unknown };

/** A connect reply's fields (JSON texts stay text: `data`). */
export interface ConnectResultParts {
  client: string;
  version: string;
  /** Seconds until the connection token expires, when it does. */
  ttl?: number | undefined;
  data?: string | undefined;
  subs?: readonly (readonly [string, SubscribeOutcome])[] | undefined;
  /** Server ping interval, seconds; 0: no pings. */
  ping: number;
  /** HTTP-streaming/SSE and unidirectional transports: the session id requests name (`transport.session`). */
  session?: string | undefined;
  /** Emulation: the node holding the session. */
  node?: string | undefined;
  /** Unidirectional transport: a connect push (no reply id), and no pong expected. */
  uni?: boolean | undefined;
}

/**
 * One encoding of the Centrifugo client protocol v2 (JSON or Protobuf): decodes a transport
 * message into commands and encodes every reply and push. The session logic is the same for both;
 * payloads (`data` fields) are JSON text on the server side, embedded as JSON in JSON mode and as
 * the raw bytes of that text in Protobuf mode.
 */
export interface CentrifugeWire {
  readonly encoding: 'json' | 'protobuf';
  /** The commands of one transport message, or how to disconnect for a malformed one. */
  decode(data: Buffer, isBinary: boolean): Cmd[] | DisconnectValue;
  /** A command's payload (`data`) as a value for the core; refuses a payload that is not JSON text. */
  value(v: unknown): unknown;
  /** The server ping (an empty message; the client answers with an empty command). */
  readonly ping: Buffer;
  pubPush(channel: string, pub: Publication): Buffer;
  /** A publication for a delta subscriber: the fossil `delta` against the previous one, or full. */
  deltaPubPush(channel: string, pub: Publication, delta: Uint8Array | undefined): Buffer;
  /** Whether this encoding can carry these delta bytes (JSON: only valid UTF-8, inside a string). */
  deltaSafe(delta: Uint8Array): boolean;
  /** Channel compaction: the pushes addressed by the subscription's numeric id. */
  readonly compact: NonNullable<Protocol['compact']>;
  joinPush(channel: string, info: ClientInfo): Buffer;
  leavePush(channel: string, info: ClientInfo): Buffer;
  messagePush(data: string): Buffer;
  unsubscribePush(channel: string, code: number, reason: string): Buffer;
  subscribePush(channel: string, o: SubscribeOutcome): Buffer;
  connectReply(id: number, r: ConnectResultParts): Buffer;
  subscribeReply(id: number, o: SubscribeOutcome): Buffer;
  /** A reply with an empty result (`unsubscribe`, `publish`, `ping`). */
  emptyReply(id: number, method: string): Buffer;
  presenceReply(id: number, presence: ReadonlyMap<string, ClientInfo>): Buffer;
  presenceStatsReply(id: number, s: PresenceStats): Buffer;
  historyReply(id: number, pubs: readonly Publication[], epoch: string, offset: number): Buffer;
  /** `data`: the result as JSON text, or none. */
  rpcReply(id: number, data: string | undefined): Buffer;
  refreshReply(id: number, method: 'refresh' | 'sub_refresh', r: { expires: boolean; ttl: number }): Buffer;
  errorReply(id: number, code: number, message: string, temporary?: boolean): Buffer;
  /** The last message on a transport that cannot carry a close code (HTTP-streaming, SSE, unidirectional). */
  disconnectPush(code: number, reason: string): Buffer;
}

const JSON_PING = Buffer.from('{}');
const b = (s: string): Buffer => Buffer.from(s);

/** The JSON encoding: newline-separated JSON objects, payloads embedded as JSON. */
export const jsonWire: CentrifugeWire = {
  encoding: 'json',
  decode(data, isBinary) {
    if (isBinary) return Disconnects.inappropriateProtocol;
    const cmds: Cmd[] = [];
    for (const line of splitLines(data.toString('utf8'))) {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        return Disconnects.badRequest;
      }
      if (!isObject(v)) return Disconnects.badRequest;
      cmds.push(v);
    }
    return cmds.length === 0 ? Disconnects.badRequest : cmds;
  },
  value: (v) => v,
  ping: JSON_PING,
  pubPush: (channel, pub) => b(c.pubPush(channel, pub)),
  deltaPubPush: (channel, pub, delta) => b(c.deltaPubPush(channel, pub, delta)),
  deltaSafe: (delta) => isUtf8(delta),
  compact: {
    publication: (id, pub) => b(c.byId.pub(id, pub)),
    delta: (id, pub, delta) => b(c.byId.delta(id, pub, delta)),
    join: (id, info) => b(c.byId.join(id, info)),
    leave: (id, info) => b(c.byId.leave(id, info)),
  },
  joinPush: (channel, info) => b(c.joinPush(channel, info)),
  leavePush: (channel, info) => b(c.leavePush(channel, info)),
  messagePush: (data) => b(c.messagePush(data)),
  unsubscribePush: (channel, code, reason) => b(c.unsubscribePush(channel, code, reason)),
  subscribePush: (channel, o) => b(c.subscribePush(channel, o)),
  connectReply(id, r) {
    const parts = [`"client":${JSON.stringify(r.client)}`, `"version":${JSON.stringify(r.version)}`];
    if (r.ttl !== undefined) parts.push(`"expires":true,"ttl":${r.ttl}`);
    if (r.data !== undefined) parts.push(`"data":${r.data}`);
    if (r.subs !== undefined && r.subs.length > 0) {
      parts.push(`"subs":{${r.subs.map(([ch, o]) => `${JSON.stringify(ch)}:${c.subscribeResult(o, true)}`).join(',')}}`);
    }
    if (r.ping > 0) parts.push(r.uni === true ? `"ping":${r.ping}` : `"ping":${r.ping},"pong":true`);
    if (r.session !== undefined) parts.push(`"session":${JSON.stringify(r.session)}`);
    if (r.node !== undefined) parts.push(`"node":${JSON.stringify(r.node)}`);
    // Unidirectional: a push (the transport strips the envelope, leaving `{"connect":{...}}`).
    if (r.uni === true) return b(`{"push":{"connect":{${parts.join(',')}}}}`);
    return b(c.reply(id, 'connect', `{${parts.join(',')}}`));
  },
  subscribeReply: (id, o) => b(c.reply(id, 'subscribe', c.subscribeResult(o))),
  emptyReply: (id, method) => b(c.reply(id, method, '{}')),
  presenceReply(id, m) {
    const entries: string[] = [];
    for (const [client, info] of m) entries.push(`${JSON.stringify(client)}:${c.encodeInfo(info)}`);
    return b(c.reply(id, 'presence', `{"presence":{${entries.join(',')}}}`));
  },
  presenceStatsReply: (id, s) => b(c.reply(id, 'presence_stats', `{"num_clients":${s.numClients},"num_users":${s.numUsers}}`)),
  historyReply: (id, pubs, epoch, offset) =>
    b(c.reply(id, 'history', `{"publications":[${pubs.map(c.encodePub).join(',')}],"epoch":${JSON.stringify(epoch)},"offset":${offset}}`)),
  rpcReply: (id, data) => b(c.reply(id, 'rpc', data === undefined ? '{}' : `{"data":${data}}`)),
  refreshReply: (id, method, r) => b(c.reply(id, method, r.expires ? `{"expires":true,"ttl":${r.ttl}}` : '{}')),
  errorReply: (id, code, message, temporary) => b(c.errorReply(id, code, message, temporary)),
  disconnectPush: (code, reason) => b(c.disconnectPush(code, reason)),
};

/** A payload in bytes (Protobuf mode) as a value: it must be JSON text, the server's payload format. */
export function jsonBytesValue(v: unknown): unknown {
  if (v === undefined || v === null) return undefined;
  if (!(v instanceof Uint8Array)) throw new ReplyError(Errors.badRequest, 'data must be bytes');
  if (v.length === 0) return undefined;
  try {
    return JSON.parse(Buffer.from(v.buffer, v.byteOffset, v.length).toString('utf8'));
  } catch {
    throw new ReplyError(Errors.badRequest, 'data must be JSON text (UTF-8): this server relays JSON payloads');
  }
}
