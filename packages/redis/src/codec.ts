import { randomBytes } from 'node:crypto';
import type { ClientInfo, Publication } from '@switchboard/server';

const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** Random bytes for epochs, drawn in blocks (a script call asks for one epoch each, used or not). */
let pool = Buffer.alloc(0);
let used = 0;

export function newEpoch(): string {
  if (used + 8 > pool.length) {
    pool = randomBytes(4096);
    used = 0;
  }
  let out = '';
  for (let i = 0; i < 8; i++) out += letters[pool[used + i]! % letters.length];
  used += 8;
  return out;
}

interface Wire {
  d: string;
  i?: ClientInfo;
  t?: Record<string, string>;
  m?: number;
  l?: Publication['delivery'];
}

/**
 * A publication as stored in history (no offset, epoch or delivery). Two forms:
 * - `*<time>:<data>`, the plain form, for a publication with neither info nor tags (the common
 *   case: the server API's) whose data holds no raw newline (the batch separator): `time` in
 *   milliseconds or empty, then `data`, the exact JSON text, as it is. Decoding is two slices,
 *   no JSON parse and no escaping.
 * - `{"d":<data as a JSON string>,"i":info,"t":tags,"m":time}`, the JSON form, for everything else
 *   (and what every version before the plain form wrote: history written by it stays readable).
 * JSON text starts with `{` here, never with `*`, so the first character tells the forms apart.
 */
export function encodeStored(pub: Publication): string {
  if (pub.info === undefined && pub.tags === undefined && plainTime(pub.time) && !pub.data.includes('\n')) return `*${pub.time ?? ''}:${pub.data}`;
  const w: Wire = { d: pub.data };
  if (pub.info !== undefined) w.i = pub.info;
  if (pub.tags !== undefined) w.t = pub.tags;
  if (pub.time !== undefined) w.m = pub.time;
  return JSON.stringify(w);
}

/** A publication as sent between nodes: the stored form, or with delivery targeting the JSON form with `l`. */
export function encodeWire(pub: Publication): string {
  if (pub.delivery === undefined) return encodeStored(pub);
  const w: Wire = { d: pub.data };
  if (pub.info !== undefined) w.i = pub.info;
  if (pub.tags !== undefined) w.t = pub.tags;
  if (pub.time !== undefined) w.m = pub.time;
  w.l = pub.delivery;
  return JSON.stringify(w);
}

/** A time the plain form carries: none, or what Date.now() gives (digits only, so decodePlain reads it back). */
function plainTime(time: number | undefined): boolean {
  return time === undefined || (Number.isSafeInteger(time) && time >= 0);
}

type Mutable = { -readonly [K in keyof Publication]: Publication[K] };

/**
 * The plain stored form (`*<time>:<data>`) lying between `from` (its `*`) and `end` of `text`, read
 * in place: the time from its digits, one slice for the data. Undefined when it is not one. Used
 * for a stored form on its own (decodePub) and for the frames of a batch without history, where
 * it saves slicing each frame out first.
 */
export function decodePlain(text: string, from: number, end: number): Mutable | undefined {
  if (text.charCodeAt(from) !== 42 /* * */) return undefined;
  let time = 0;
  let i = from + 1;
  for (; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 58 /* : */) break;
    if (c < 48 || c > 57) return undefined;
    time = time * 10 + (c - 48);
  }
  if (i >= end) return undefined;
  const data = text.slice(i + 1, end);
  return i === from + 1 ? { data } : { data, time };
}

/** Either stored form (see encodeStored), or the JSON form with delivery targeting. Throws on anything else. */
export function decodePub(text: string, offset: number, epoch: string): Publication {
  let p: Mutable;
  if (text.charCodeAt(0) === 42 /* * */) {
    const plain = decodePlain(text, 0, text.length);
    if (plain === undefined) throw new SyntaxError('a malformed plain stored publication');
    p = plain;
  } else {
    const w = JSON.parse(text) as Wire;
    if (typeof w.d !== 'string') throw new SyntaxError('a stored publication without data');
    p = { data: w.d };
    if (w.i !== undefined) p.info = w.i;
    if (w.t !== undefined) p.tags = w.t;
    if (w.m !== undefined) p.time = w.m;
    if (w.l !== undefined) p.delivery = w.l;
  }
  if (offset > 0) {
    p.offset = offset;
    p.epoch = epoch;
  }
  return p;
}

/**
 * Messages on a channel's Redis pub/sub channel:
 * `p<offset>:<epoch>:<json>` a publication (offset 0 and an empty epoch without history),
 * `j<json>` a join, `l<json>` a leave; `b<message>\n<message>...` several of those (a batch
 * without history) and `B<first offset>:<epoch>:<json>\n<json>...` a batch of history publications.
 */
export function pubMessage(pub: Publication): string {
  return `p0::${encodeWire(pub)}`;
}

/**
 * A batch of history publications from one script call: `B<first offset>:<epoch>:<json>\n<json>...`,
 * offsets consecutive from the first.
 */
export function decodeBatch(msg: string): Publication[] | undefined {
  const a = msg.indexOf(':', 1);
  const b = msg.indexOf(':', a + 1);
  if (a < 0 || b < 0) return undefined;
  const first = Number(msg.slice(1, a));
  const epoch = msg.slice(a + 1, b);
  return msg
    .slice(b + 1)
    .split('\n')
    .map((json, i) => decodePub(json, first + i, epoch));
}

export type Message =
  | { kind: 'pub'; pub: Publication }
  | { kind: 'join' | 'leave'; info: ClientInfo };

export function decodeMessage(msg: string): Message | undefined {
  const k = msg.charCodeAt(0);
  if (k === 112 /* p */) {
    const a = msg.indexOf(':', 1);
    const b = msg.indexOf(':', a + 1);
    if (a < 0 || b < 0) return undefined;
    return { kind: 'pub', pub: decodePub(msg.slice(b + 1), Number(msg.slice(1, a)), msg.slice(a + 1, b)) };
  }
  if (k === 106 /* j */) return { kind: 'join', info: JSON.parse(msg.slice(1)) as ClientInfo };
  if (k === 108 /* l */) return { kind: 'leave', info: JSON.parse(msg.slice(1)) as ClientInfo };
  return undefined;
}
