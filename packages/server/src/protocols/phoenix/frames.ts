import { isObject } from '../../internal/json.js';
import type { ClientInfo, Publication } from '../../types.js';

/**
 * Phoenix Channels V2 JSON frames as the official `phoenix` 1.8 client reads them
 * (PROTOCOL-phoenix.md §2): one text message holding `[join_ref, ref, topic, event, payload]`,
 * refs opaque strings or null, payload always a JSON object.
 */

const q = JSON.stringify;

/** The socket's own topic (heartbeats). */
export const SOCKET_TOPIC = 'phoenix';

/**
 * Event names the client acts on by name alone (§13 pitfall 6): never sent as user events and
 * refused as client pushes.
 */
export function isReserved(event: string): boolean {
  return event.startsWith('phx_') || event.startsWith('chan_reply_') || event === 'presence_state' || event === 'presence_diff' || event === 'heartbeat';
}

/** A payload the client may read fields from: objects as they are, anything else wrapped as `{data}`. */
export function objectPayload(v: unknown): string {
  if (v === undefined) return '{}';
  if (isObject(v)) return q(v);
  return q({ data: v });
}

const ref = (r: string | null): string => (r === null ? 'null' : q(r));

export function frame(joinRef: string | null, msgRef: string | null, topic: string, event: string, payloadJson: string): string {
  return `[${ref(joinRef)},${ref(msgRef)},${q(topic)},${q(event)},${payloadJson}]`;
}

export function reply(joinRef: string | null, msgRef: string | null, topic: string, status: 'ok' | 'error', responseJson: string): string {
  return frame(joinRef, msgRef, topic, 'phx_reply', `{"status":"${status}","response":${responseJson}}`);
}

/** The error reply body of the [SB] mapping: `{reason, code}` (code omitted for Phoenix's own reasons). */
export function errorResponse(reason: string, code?: number): string {
  return code === undefined ? q({ reason }) : q({ reason, code });
}

/** One decoded client frame. */
export interface InFrame {
  readonly joinRef: string | null;
  readonly ref: string | null;
  readonly topic: string;
  readonly event: string;
  readonly payload: unknown;
}

/** Decode a V2 text frame; undefined when it is not a 5-element array with string topic/event and string-or-null refs. */
export function decode(text: string): InFrame | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || v.length < 5) return undefined;
  const [joinRef, msgRef, topic, event, payload] = v as unknown[];
  if (!isRef(joinRef) || !isRef(msgRef) || typeof topic !== 'string' || typeof event !== 'string') return undefined;
  return { joinRef, ref: msgRef, topic, event, payload };
}

function isRef(v: unknown): v is string | null {
  return v === null || typeof v === 'string';
}

/**
 * The refs and topic of a binary push (§9: kind 0, then length bytes of join_ref, ref, topic,
 * event): enough to answer it with an error reply. Undefined for anything else.
 */
export function binaryHeader(data: Buffer): { joinRef: string; ref: string; topic: string } | undefined {
  if (data.length < 5 || data[0] !== 0) return undefined;
  const lens = [data[1]!, data[2]!, data[3]!, data[4]!];
  let at = 5;
  const parts: string[] = [];
  for (const len of lens.slice(0, 3)) {
    if (at + len > data.length) return undefined;
    parts.push(data.toString('utf8', at, at + len));
    at += len;
  }
  return { joinRef: parts[0]!, ref: parts[1]!, topic: parts[2]! };
}

/**
 * [SB] A positioned publication carries `"<offset>:<epoch>"` in the ref slot (the client hands it to
 * `channel.onMessage(event, payload, ref)` and `on(event, (payload, ref) => …)`; only `phx_reply`
 * and heartbeat refs, which are plain decimals, are matched by the client). The client sends the
 * last one back as join param `recover` to have what it missed replayed.
 */
function positionRef(pub: Publication): string | null {
  return pub.offset !== undefined && pub.offset > 0 && pub.epoch !== undefined ? `${pub.offset}:${pub.epoch}` : null;
}

/** The join param `recover`: `"<offset>:<epoch>"` (a broadcast's ref) or `{offset, epoch}`. */
export function recoverParam(params: unknown): { offset: number; epoch: string } | undefined {
  if (!isObject(params)) return undefined;
  const r = params['recover'];
  if (typeof r === 'string') {
    const i = r.indexOf(':');
    const offset = Number(r.slice(0, i));
    if (i <= 0 || !Number.isSafeInteger(offset) || offset < 0) return undefined;
    return { offset, epoch: r.slice(i + 1) };
  }
  if (isObject(r) && typeof r['offset'] === 'number' && Number.isSafeInteger(r['offset']) && r['offset'] >= 0 && typeof r['epoch'] === 'string') {
    return { offset: r['offset'], epoch: r['epoch'] };
  }
  return undefined;
}

/** The ok reply of a join: the subscribe data, plus the stream position where the channel has one. */
export function joinResponse(o: { positioned: boolean; recoverable: boolean; epoch?: string; offset?: number; wasRecovering: boolean; recovered: boolean; data?: string }): string {
  if (!o.positioned) return o.data ?? '{}';
  let s = `{"recoverable":${o.recoverable},"epoch":${q(o.epoch ?? '')},"offset":${o.offset ?? 0}`;
  if (o.wasRecovering) s += `,"recovered":${o.recovered}`;
  if (o.data !== undefined) s += `,"data":${o.data}`;
  return s + '}';
}

/**
 * A publication as a broadcast `[null, null, topic, event, payload]` (§14): data `{event, payload?}`
 * with a non-reserved string event gives that event (payload wrapped when not an object), anything
 * else is event `message` with the whole data.
 */
export function publicationFrame(topic: string, pub: Publication): string {
  let data: unknown;
  try {
    data = JSON.parse(pub.data);
  } catch {
    data = undefined;
  }
  if (isObject(data) && typeof data['event'] === 'string' && !isReserved(data['event'])) {
    return frame(null, positionRef(pub), topic, data['event'], objectPayload(data['payload']));
  }
  return frame(null, positionRef(pub), topic, 'message', isObject(data) ? pub.data : q({ data }));
}

/** The presence key of a member: its user, or its client id when anonymous. */
export const presenceKey = (info: ClientInfo): string => (info.user === '' ? info.client : info.user);

/**
 * The `phx_ref` of a member's presence entry: its client id, then `<client id>.<rev>` after each
 * presence update, so every version of the entry has its own ref (the client's `Presence` matches
 * leaves by ref) and every node derives the same ref from the same ClientInfo.
 */
export function phxRef(client: string, rev: number | undefined): string {
  return rev === undefined || rev === 0 ? client : `${client}.${rev}`;
}

/** One meta per Switchboard client: `phx_ref` (see phxRef), plus the ClientInfo fields. */
export function meta(info: ClientInfo): string {
  let s = `{"phx_ref":${q(phxRef(info.client, info.rev))},"user":${q(info.user)},"client":${q(info.client)}`;
  if (info.connInfo !== undefined) s += `,"conn_info":${info.connInfo}`;
  if (info.chanInfo !== undefined) s += `,"chan_info":${info.chanInfo}`;
  return s + '}';
}

/**
 * The meta an update replaces: the previous revision's ref. Its earlier channel info is not known
 * here (only the new ClientInfo travels), so the left meta carries the ref and the identity fields.
 */
function previousMeta(info: ClientInfo): string {
  let s = `{"phx_ref":${q(phxRef(info.client, (info.rev ?? 1) - 1))},"user":${q(info.user)},"client":${q(info.client)}`;
  if (info.connInfo !== undefined) s += `,"conn_info":${info.connInfo}`;
  return s + '}';
}

/** `{key: {metas: [...]}}` grouped by presence key. */
export function presenceState(list: Iterable<ClientInfo>): string {
  const byKey = new Map<string, string[]>();
  for (const info of list) {
    const k = presenceKey(info);
    let metas = byKey.get(k);
    if (metas === undefined) byKey.set(k, (metas = []));
    metas.push(meta(info));
  }
  const entries: string[] = [];
  for (const [k, metas] of byKey) entries.push(`${q(k)}:{"metas":[${metas.join(',')}]}`);
  return `{${entries.join(',')}}`;
}

/**
 * A `presence_diff` broadcast. An update is Phoenix's leave+join in one diff: the new meta (new
 * `phx_ref`, `phx_ref_prev` = the old one) in `joins`, the old ref in `leaves` (§8.1).
 */
export function presenceDiff(topic: string, kind: 'join' | 'leave' | 'update', info: ClientInfo): string {
  const key = q(presenceKey(info));
  let body: string;
  if (kind === 'update' && info.rev !== undefined && info.rev > 0) {
    const m = meta(info);
    const prev = `,"phx_ref_prev":${q(phxRef(info.client, (info.rev ?? 1) - 1))}}`;
    body = `{"joins":{${key}:{"metas":[${m.slice(0, -1)}${prev}]}},"leaves":{${key}:{"metas":[${previousMeta(info)}]}}}`;
  } else {
    // (An update without a revision, from a node that predates it, replaces the meta under its ref.)
    const one = `{${key}:{"metas":[${meta(info)}]}}`;
    body = kind === 'leave' ? `{"joins":{},"leaves":${one}}` : `{"joins":${one},"leaves":{}}`;
  }
  return frame(null, null, topic, 'presence_diff', body);
}
