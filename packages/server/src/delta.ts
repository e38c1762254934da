import { createDelta } from 'fossil-delta';
import { PROTOCOL_SLOT_COUNT, type Protocol } from './protocol.js';
import type { Subscription } from './subscription.js';
import type { Publication } from './types.js';

/**
 * Fossil delta compression for one publication on one node (Centrifugo's delta semantics). `prev`
 * is the data of the channel's previous publication on this node: kept per channel while it has
 * subscribers here, so deltas work with or without history (Centrifugo keeps it only in its
 * paid version). The delta against `prev` is computed at most once per publication, and each
 * protocol's bytes (full or delta) once, whoever receives them.
 */
export class DeltaEncodings {
  #delta: Uint8Array | null | undefined;
  readonly #full: (Buffer | undefined)[] = [];
  readonly #deltas: (Buffer | undefined)[] = [];

  constructor(
    readonly prev: string | undefined,
    readonly pub: Publication,
  ) {}

  /** The delta of this publication's data against `prev`, or null when it is not smaller than the data. */
  delta(): Uint8Array | null {
    if (this.#delta === undefined) {
      const target = Buffer.from(this.pub.data);
      const d = this.prev === undefined ? null : createDelta(Buffer.from(this.prev), target);
      this.#delta = d !== null && d.length < target.length ? d : null;
    }
    return this.#delta;
  }

  /**
   * The message for `sub`, which negotiated delta: a delta when the publication asks for one (or
   * the namespace sends every publication so), the client holds exactly `prev`, the delta is
   * smaller and the protocol can carry it; else the full publication (which restarts the chain).
   * Only for protocols with `encodeDelta`.
   */
  messageFor(sub: Subscription, p: Protocol): Buffer {
    const pub = this.pub;
    const wanted = pub.delivery?.delta === true || sub.resolved.options.deltaPublish === true;
    let d = wanted && this.prev !== undefined && sub.deltaBase === this.prev ? this.delta() : null;
    if (d !== null && p.deltaSafe !== undefined && !p.deltaSafe(d)) d = null;
    sub.deltaBase = pub.data;
    const cache = d === null ? this.#full : this.#deltas;
    const compact = sub.compactId !== undefined ? p.compact : undefined;
    // Compacted subscribers (the channel's numeric id instead of its name) share their own bytes.
    const i = compact !== undefined ? p.slot + PROTOCOL_SLOT_COUNT : p.slot;
    let buf = cache[i];
    if (buf === undefined) buf = cache[i] = compact !== undefined ? compact.delta(sub.compactId!, pub, d ?? undefined) : p.encodeDelta!(sub.channel, pub, d ?? undefined);
    return buf;
  }
}
