import type { ClientInfo, Delivery, Publication } from '@switchboard/server';

/**
 * Notification payloads on the schema's LISTEN channel. Channel names have no spaces (printable
 * ASCII without space, as the server checks), so a space ends the channel name:
 *
 * - `h<channel> <offset> <epoch> <json>` a publication with history was committed at `offset`, with
 *   the content of its row (and its delivery targeting). The rows stay the truth: a node uses the
 *   content only when it is the very next offset after its cursor, and reads the committed rows by
 *   offset otherwise (a gap, a fresh cursor after a catch-up, another epoch);
 * - `p<channel> <json>` a publication without history (nothing stored, nothing to read);
 * - `j<channel> <info json>` / `l<channel> <info json>` join and leave;
 * - `c<message>` a control message;
 * - `s<token>` a node's subscribe barrier: everything committed before it arrived before it;
 * - `r<id>` any of these, too large for NOTIFY, in the `messages` table.
 */
export type Note =
  | { kind: 'hint'; channel: string; offset: number; epoch: string; pub: Publication }
  | { kind: 'pub'; channel: string; pub: Publication }
  | { kind: 'join' | 'leave'; channel: string; info: ClientInfo }
  | { kind: 'control'; message: string }
  | { kind: 'sync'; token: string }
  | { kind: 'ref'; id: string };

interface Wire {
  d: string;
  i?: ClientInfo;
  t?: Record<string, string>;
  m?: number;
  l?: Delivery;
}

export function encodePub(channel: string, pub: Publication): string {
  const w: Wire = { d: pub.data };
  if (pub.info !== undefined) w.i = pub.info;
  if (pub.tags !== undefined) w.t = pub.tags;
  if (pub.time !== undefined) w.m = pub.time;
  if (pub.delivery !== undefined) w.l = pub.delivery;
  return `p${channel} ${JSON.stringify(w)}`;
}

export function encodeJoinLeave(kind: 'join' | 'leave', channel: string, info: ClientInfo): string {
  return `${kind === 'join' ? 'j' : 'l'}${channel} ${JSON.stringify(info)}`;
}

function wirePub(w: Wire): Publication {
  const p: { -readonly [K in keyof Publication]: Publication[K] } = { data: w.d };
  if (w.i !== undefined) p.info = w.i;
  if (w.t !== undefined) p.tags = w.t;
  if (w.m !== undefined) p.time = w.m;
  if (w.l !== undefined) p.delivery = w.l;
  return p;
}

/** Parses a notification; undefined for anything that is not ours. */
export function decodeNote(payload: string): Note | undefined {
  const k = payload.charCodeAt(0);
  if (k === 99 /* c */) return { kind: 'control', message: payload.slice(1) };
  if (k === 114 /* r */) return { kind: 'ref', id: payload.slice(1) };
  if (k === 115 /* s */) return { kind: 'sync', token: payload.slice(1) };
  const sp = payload.indexOf(' ');
  if (sp < 2) return undefined;
  const channel = payload.slice(1, sp);
  const rest = payload.slice(sp + 1);
  try {
    if (k === 104 /* h */) {
      const sp2 = rest.indexOf(' ');
      const sp3 = rest.indexOf(' ', sp2 + 1);
      if (sp2 < 0 || sp3 < 0) return undefined;
      const offset = Number(rest.slice(0, sp2));
      if (!Number.isSafeInteger(offset) || offset < 1) return undefined;
      const epoch = rest.slice(sp2 + 1, sp3);
      const pub = { ...wirePub(JSON.parse(rest.slice(sp3 + 1)) as Wire), offset, epoch };
      return { kind: 'hint', channel, offset, epoch, pub };
    }
    if (k === 112 /* p */) return { kind: 'pub', channel, pub: wirePub(JSON.parse(rest) as Wire) };
    if (k === 106 /* j */) return { kind: 'join', channel, info: JSON.parse(rest) as ClientInfo };
    if (k === 108 /* l */) return { kind: 'leave', channel, info: JSON.parse(rest) as ClientInfo };
  } catch {
    return undefined;
  }
  return undefined;
}

/** A stored history row as a Publication (never with `delivery`, which is not stored). */
export function rowPub(row: { offset: string | number; data: string; info: ClientInfo | null; tags: Record<string, string> | null; time_ms: string | number | null }, epoch: string): Publication {
  const p: { -readonly [K in keyof Publication]: Publication[K] } = { data: row.data, offset: Number(row.offset), epoch };
  if (row.info !== null) p.info = row.info;
  if (row.tags !== null) p.tags = row.tags;
  if (row.time_ms !== null) p.time = Number(row.time_ms);
  return p;
}
