import protobuf from 'protobufjs';
import { Disconnects } from '../../codes.js';
import type { SubscribeOutcome } from '../../protocol.js';
import type { ClientInfo, Publication } from '../../types.js';
import { Command, Reply } from './proto-schema.js';
import { type Cmd, type CentrifugeWire, jsonBytesValue } from './wire.js';

/**
 * The Protobuf encoding of the Centrifugo client protocol v2: every message on the wire is a
 * `Reply` (server → client) or `Command` (client → server) prefixed with its varint length, and
 * one transport message holds one or more of them back to back. Payloads are bytes: the server
 * holds them as JSON text and sends that text's bytes; a client's payload must be JSON text.
 * Encoding and decoding use protobufjs with the schema in `proto-schema.ts` (see
 * docs/protocols/centrifuge-bandwidth.md for why: measured against a hand-written encoder).
 */

type Obj = Record<string, unknown>;

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.length);
}

function encodeReply(reply: Obj): Buffer {
  return toBuffer(Reply.encodeDelimited(reply).finish());
}

function infoObj(info: ClientInfo): Obj {
  const o: Obj = { user: info.user, client: info.client };
  if (info.connInfo !== undefined) o['conn_info'] = utf8(info.connInfo);
  if (info.chanInfo !== undefined) o['chan_info'] = utf8(info.chanInfo);
  return o;
}

function pubObj(pub: Publication, delta?: Uint8Array): Obj {
  const o: Obj = { data: delta ?? utf8(pub.data) };
  if (delta !== undefined) o['delta'] = true;
  if (pub.info !== undefined) o['info'] = infoObj(pub.info);
  if (pub.offset) o['offset'] = pub.offset;
  if (pub.tags !== undefined) o['tags'] = pub.tags;
  return o;
}

function subscribeResult(o: SubscribeOutcome, serverSide = false): Obj {
  const r: Obj = {};
  if (o.ttl !== undefined) {
    r['expires'] = true;
    r['ttl'] = o.ttl;
  }
  if (o.recoverable) r['recoverable'] = true;
  if (o.epoch !== undefined && o.epoch !== '') r['epoch'] = o.epoch;
  if (o.offset) r['offset'] = o.offset;
  if (o.positioned) r['positioned'] = true;
  if (o.publications.length > 0 && (!serverSide || o.recovered)) r['publications'] = o.publications.map((p) => pubObj(p));
  if (o.recovered) r['recovered'] = true;
  if (o.wasRecovering) r['was_recovering'] = true;
  if (o.data !== undefined) r['data'] = utf8(o.data);
  if (o.delta === true) r['delta'] = true;
  if (o.id !== undefined) r['id'] = o.id;
  return r;
}

const DECODE_OPTS: protobuf.IConversionOptions = { longs: Number };

export const protobufWire: CentrifugeWire = {
  encoding: 'protobuf',
  decode(data, isBinary) {
    if (!isBinary) return Disconnects.inappropriateProtocol;
    const reader = protobuf.Reader.create(data);
    const cmds: Cmd[] = [];
    try {
      while (reader.pos < reader.len) cmds.push(Command.toObject(Command.decodeDelimited(reader), DECODE_OPTS));
    } catch {
      return Disconnects.badRequest;
    }
    return cmds.length === 0 ? Disconnects.badRequest : cmds;
  },
  value: jsonBytesValue,
  // An empty Reply: its length prefix, 0.
  ping: Buffer.from([0]),
  pubPush: (channel, pub) => encodeReply({ push: { channel, pub: pubObj(pub) } }),
  deltaPubPush: (channel, pub, delta) => encodeReply({ push: { channel, pub: pubObj(pub, delta) } }),
  deltaSafe: () => true,
  // Encoders for compacted pushes, unused: the Protobuf protocol does not offer compaction (session.ts).
  compact: {
    publication: (id, pub) => encodeReply({ push: { id, pub: pubObj(pub) } }),
    delta: (id, pub, delta) => encodeReply({ push: { id, pub: pubObj(pub, delta) } }),
    join: (id, info) => encodeReply({ push: { id, join: { info: infoObj(info) } } }),
    leave: (id, info) => encodeReply({ push: { id, leave: { info: infoObj(info) } } }),
  },
  joinPush: (channel, info) => encodeReply({ push: { channel, join: { info: infoObj(info) } } }),
  leavePush: (channel, info) => encodeReply({ push: { channel, leave: { info: infoObj(info) } } }),
  messagePush: (data) => encodeReply({ push: { message: { data: utf8(data) } } }),
  unsubscribePush: (channel, code, reason) => encodeReply({ push: { channel, unsubscribe: { code, reason } } }),
  subscribePush(channel, o) {
    const s: Obj = {};
    if (o.recoverable) s['recoverable'] = true;
    if (o.epoch !== undefined && o.epoch !== '') s['epoch'] = o.epoch;
    if (o.offset) s['offset'] = o.offset;
    if (o.positioned) s['positioned'] = true;
    if (o.data !== undefined) s['data'] = utf8(o.data);
    return encodeReply({ push: { channel, subscribe: s } });
  },
  connectReply(id, r) {
    const res: Obj = { client: r.client, version: r.version };
    if (r.ttl !== undefined) {
      res['expires'] = true;
      res['ttl'] = r.ttl;
    }
    if (r.data !== undefined) res['data'] = utf8(r.data);
    if (r.subs !== undefined && r.subs.length > 0) res['subs'] = Object.fromEntries(r.subs.map(([ch, o]) => [ch, subscribeResult(o, true)]));
    if (r.ping > 0) {
      res['ping'] = r.ping;
      res['pong'] = true;
    }
    // HTTP-streaming: the session emulation requests name, and the node holding it.
    if (r.session !== undefined) res['session'] = r.session;
    if (r.node !== undefined) res['node'] = r.node;
    return encodeReply({ id, connect: res });
  },
  subscribeReply: (id, o) => encodeReply({ id, subscribe: subscribeResult(o) }),
  emptyReply: (id, method) => encodeReply({ id, [method]: {} }),
  presenceReply(id, m) {
    const presence: Obj = {};
    for (const [client, info] of m) presence[client] = infoObj(info);
    return encodeReply({ id, presence: { presence } });
  },
  presenceStatsReply: (id, s) => encodeReply({ id, presence_stats: { num_clients: s.numClients, num_users: s.numUsers } }),
  historyReply: (id, pubs, epoch, offset) => encodeReply({ id, history: { publications: pubs.map((p) => pubObj(p)), epoch, offset } }),
  rpcReply: (id, data) => encodeReply({ id, rpc: data === undefined ? {} : { data: utf8(data) } }),
  refreshReply: (id, method, r) => encodeReply({ id, [method]: r.expires ? { expires: true, ttl: r.ttl } : {} }),
  errorReply: (id, code, message, temporary) => encodeReply({ id, error: temporary ? { code, message, temporary: true } : { code, message } }),
  disconnectPush: (code, reason) => encodeReply({ push: { disconnect: { code, reason } } }),
};
