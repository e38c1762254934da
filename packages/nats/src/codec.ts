import type { ClientInfo, Publication } from '@switchboard/server';

/** A publication as JSON: `d` data (exact JSON text), `i` info, `t` tags, `m` time, `l` delivery. */
interface Wire {
  d: string;
  i?: ClientInfo;
  t?: Record<string, string>;
  m?: number;
  l?: Publication['delivery'];
}

/** The publication as sent and stored. `delivery` travels between nodes; history reads drop it. */
export function encodePub(pub: Publication): string {
  const w: Wire = { d: pub.data };
  if (pub.info !== undefined) w.i = pub.info;
  if (pub.tags !== undefined) w.t = pub.tags;
  if (pub.time !== undefined) w.m = pub.time;
  if (pub.delivery !== undefined) w.l = pub.delivery;
  return JSON.stringify(w);
}

/** Decodes a stored or sent publication; `withDelivery` false for history reads. */
export function decodePub(json: string, offset: number, epoch: string, withDelivery: boolean): Publication {
  const w = JSON.parse(json) as Wire;
  if (typeof w !== 'object' || w === null || typeof w.d !== 'string') throw new Error('not a publication');
  const p: { -readonly [K in keyof Publication]: Publication[K] } = { data: w.d };
  if (w.i !== undefined) p.info = w.i;
  if (w.t !== undefined) p.tags = w.t;
  if (w.m !== undefined) p.time = w.m;
  if (offset > 0) {
    p.offset = offset;
    p.epoch = epoch;
  }
  if (withDelivery && w.l !== undefined) p.delivery = w.l;
  return p;
}

/**
 * Headers of a history message (JetStream): offset, epoch, expiry, meta expiry, size, previous
 * sequence of the channel, and the channel's last publish version and its epoch (carried by every
 * message after the first versioned one, so the top always says it).
 */
export const H = {
  offset: 'Sb-Offset',
  epoch: 'Sb-Epoch',
  expires: 'Sb-Expires',
  metaExpires: 'Sb-Meta-Expires',
  size: 'Sb-Size',
  prev: 'Sb-Prev',
  version: 'Sb-Version',
  versionEpoch: 'Sb-Version-Epoch',
} as const;
