import { randomBytes } from 'node:crypto';
import {
  DEFAULT_IDEMPOTENT_RESULT_TTL_MS,
  EpochMismatchError,
  type HistoryOptions,
  type HistoryReadOptions,
  type HistoryReadResult,
  type HistoryStore,
  type IdempotentPublish,
  type Publication,
  type StreamPosition,
  type VersionedPublish,
} from '@switchboard/server';
import { headers, type JetStreamClient, type JetStreamManager, type MsgHdrs, type StoredMsg } from 'nats';
import { decodePub, encodePub, H } from './codec.js';
import { type NatsConnectionOptions, NatsLink } from './link.js';

/** How long a stream's epoch and top outlive its last publication when the options do not say (30 days). */
export const DEFAULT_META_TTL_MS = 30 * 24 * 3600 * 1000;

const dec = new TextDecoder();

type DirectMsgRequest = { seq: number } | { last_by_subj: string };

/** Direct get (stream `allow_direct`): in the client, untyped on JetStreamManager. */
function directGet(jsm: JetStreamManager, stream: string, query: DirectMsgRequest): Promise<StoredMsg> {
  return (jsm as JetStreamManager & { direct: { getMessage(s: string, q: DirectMsgRequest): Promise<StoredMsg> } }).direct.getMessage(stream, query);
}

/** The newest message of a channel's subject, parsed. */
interface Top {
  seq: number;
  offset: number;
  epoch: string;
  size: number;
  metaExpires: number;
  /** The stream's last publish version (0: none) and its epoch. */
  version: number;
  versionEpoch: string;
  msg: StoredMsg | undefined;
}

/** Centrifugo's rule: not above the last version, and the same epoch (an empty one matches any). */
function isStale(top: Top, v: VersionedPublish): boolean {
  return top.version > 0 && (v.epoch === '' || v.epoch === top.versionEpoch) && v.version <= top.version;
}

/** The Nats-Msg-Id of an idempotent append: channel and key (a header value: no CR/LF, not trimmed). */
function msgId(channel: string, key: string): string {
  return `${encodeURIComponent(channel)}:${encodeURIComponent(key)}`;
}

function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

function num(h: MsgHdrs, k: string): number {
  const v = Number(h.get(k));
  return Number.isFinite(v) ? v : 0;
}

/** A header value written with `encodeURIComponent`. */
function headerText(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

function isWrongLastSequence(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; message?: string };
  return e?.api_error?.err_code === 10071 || /wrong last sequence/.test(String(e?.message));
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown })?.code === '404' || (err as { code?: unknown })?.code === 404;
}

/**
 * History in one JetStream stream (`<prefix>_history`), one subject per channel. Each message
 * carries its offset, epoch, expiry, the channel's size limit and the stream sequence of the
 * channel's previous message in headers. An append is a publish that expects the channel's last
 * sequence to be the one it read (`Nats-Expected-Last-Subject-Sequence`): of two nodes appending
 * at once one wins and the other reads the new top and retries, so offsets are gapless and
 * stream order is offset order. The stream republishes each stored message to the channel's
 * core subject, which is how `NatsBroker` delivers publications with history in offset order.
 *
 * Reads follow the previous-sequence chain back from the top (one direct get per publication),
 * keeping what is inside the size window and not expired. Older messages are purged from the
 * stream every half `size` appends.
 */
export class JetStreamHistoryStore implements HistoryStore {
  readonly link: NatsLink;
  readonly #maxAgeMs: number;
  #setup: Promise<{ js: JetStreamClient; jsm: JetStreamManager }> | undefined;
  /** The last known top per channel on this node (a stale one costs one failed publish). */
  readonly #tops = new Map<string, Top>();
  /** Appends of one channel on this node run one after another. */
  readonly #chains = new Map<string, Promise<unknown>>();

  /** `maxAgeMs`: the stream's max age, an upper bound on any stream's meta TTL (default 30 days). */
  constructor(options: (NatsConnectionOptions | { link: NatsLink }) & { maxAgeMs?: number }) {
    this.link = 'link' in options ? options.link.acquire() : new NatsLink(options).acquire();
    this.#maxAgeMs = options.maxAgeMs ?? DEFAULT_META_TTL_MS;
  }

  /** Creates (or updates) the history stream; rejects with a clear error without JetStream. */
  ready(): Promise<{ js: JetStreamClient; jsm: JetStreamManager }> {
    this.#setup ??= (async () => {
      const { js, jsm } = await this.link.jetstream();
      const n = this.link.names;
      const config = {
        name: n.historyStream,
        subjects: [n.historyAll],
        allow_direct: true,
        max_age: this.#maxAgeMs * 1_000_000,
        // idempotent appends carry Nats-Msg-Id: JetStream drops a repeat within this window
        duplicate_window: Math.min(DEFAULT_IDEMPOTENT_RESULT_TTL_MS, this.#maxAgeMs) * 1_000_000,
        republish: { src: n.historyAll, dest: `${this.link.prefix}.client.{{wildcard(1)}}` },
      };
      try {
        await jsm.streams.add(config); // idempotent when the stream exists with this config
      } catch (err) {
        if ((err as { api_error?: { err_code?: number } }).api_error?.err_code !== 10058) throw err;
        await jsm.streams.update(n.historyStream, config); // another max age: take this node's
      }
      return { js, jsm };
    })();
    this.#setup.catch(() => {
      this.#setup = undefined;
    });
    return this.#setup;
  }

  /** The newest message of the channel, or undefined (with the sequence to expect) when there is none or its metadata expired. */
  async #last(channel: string): Promise<{ top: Top | undefined; seq: number }> {
    const { jsm } = await this.ready();
    let m: StoredMsg;
    try {
      m = await directGet(jsm, this.link.names.historyStream, { last_by_subj: this.link.names.history(channel) });
    } catch (err) {
      if (isNotFound(err)) return { top: undefined, seq: 0 };
      throw err;
    }
    const h = m.header;
    const top: Top = {
      seq: m.seq,
      offset: num(h, H.offset),
      epoch: h.get(H.epoch),
      size: num(h, H.size),
      metaExpires: num(h, H.metaExpires),
      version: num(h, H.version),
      versionEpoch: headerText(h.get(H.versionEpoch)),
      msg: m,
    };
    if (top.metaExpires <= Date.now() || top.epoch === '') return { top: undefined, seq: m.seq };
    return { top, seq: m.seq };
  }

  /** The channel's top, creating the stream (an epoch marker at offset 0) when it is unknown or lost. */
  async #top(channel: string): Promise<Top> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const last = await this.#last(channel);
      if (last.top !== undefined) return last.top;
      const epoch = newEpoch();
      const metaExpires = Date.now() + this.#maxAgeMs;
      const h = headers();
      h.set(H.offset, '0');
      h.set(H.epoch, epoch);
      h.set(H.metaExpires, String(metaExpires));
      h.set(H.size, '0');
      h.set(H.prev, '0'); // a new epoch: nothing before it belongs to the stream
      h.set('Nats-Expected-Last-Subject-Sequence', String(last.seq));
      try {
        const { js } = await this.ready();
        const ack = await js.publish(this.link.names.history(channel), new Uint8Array(0), { headers: h });
        return { seq: ack.seq, offset: 0, epoch, size: 0, metaExpires, version: 0, versionEpoch: '', msg: undefined }; // a new stream forgets the version
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err; // another node created it first: read theirs
      }
    }
    throw new Error(`history of ${channel}: too much contention creating the stream`);
  }

  /**
   * Appends `pub`. With `version` (Centrifugo's publish version): the channel's last version rides
   * in the headers of its top message, so checking it against the top the append expects is
   * atomic with the append: a publication whose version is stale against the top is not appended
   * (nor republished, so not delivered), `stale` is called and the top's position is answered;
   * when another node appended meanwhile the expected-sequence check fails and the new top is
   * checked again. Publications without a version carry the top's version forward.
   */
  append(channel: string, pub: Publication, options: HistoryOptions, version?: VersionedPublish, idempotent?: IdempotentPublish): Promise<StreamPosition> {
    const prev = this.#chains.get(channel) ?? Promise.resolve();
    const next = prev.then(
      () => this.#append(channel, pub, options, version, idempotent),
      () => this.#append(channel, pub, options, version, idempotent),
    );
    const tail = next.catch(() => {});
    this.#chains.set(channel, tail);
    void tail.then(() => {
      if (this.#chains.get(channel) === tail) this.#chains.delete(channel);
    });
    return next;
  }

  async #append(channel: string, pub: Publication, options: HistoryOptions, version: VersionedPublish | undefined, idempotent?: IdempotentPublish): Promise<StreamPosition> {
    const { js } = await this.ready();
    await this.link.ready(); // refused at once while NATS is away
    const body = new TextEncoder().encode(encodePub(pub));
    const metaTtl = Math.min(options.metaTtlMs ?? DEFAULT_META_TTL_MS, this.#maxAgeMs);
    for (let attempt = 0; attempt < 100; attempt++) {
      let top = this.#tops.get(channel);
      const cached = top !== undefined && top.metaExpires > Date.now();
      if (top === undefined || !cached) top = await this.#top(channel);
      if (version !== undefined && isStale(top, version)) {
        if (cached) {
          // this node's idea of the top may be old (the stream removed or renewed since): judge on the real one
          this.#tops.delete(channel);
          continue;
        }
        // with a key, the key is judged first (as on Redis): a retry of an accepted publication is a
        // duplicate, not stale. JetStream checks Nats-Msg-Id before the expected sequence, and no
        // stream that holds a message has last sequence 0, so this probe stores nothing either way.
        if (idempotent !== undefined) {
          const probe = headers();
          probe.set('Nats-Msg-Id', msgId(channel, idempotent.key));
          probe.set('Nats-Expected-Last-Sequence', '0');
          try {
            const ack = await js.publish(this.link.names.history(channel), new Uint8Array(0), { headers: probe });
            if (ack.duplicate) {
              idempotent.duplicate?.();
              return await this.#positionAt(channel, ack.seq);
            }
            throw new Error(`history of ${channel}: the duplicate probe was stored (sequence ${ack.seq})`);
          } catch (err) {
            if (!isWrongLastSequence(err)) throw err; // not a duplicate: stale
          }
        }
        version.stale?.();
        return { offset: top.offset, epoch: top.epoch };
      }
      const now = Date.now();
      const offset = top.offset + 1;
      const h = headers();
      h.set(H.offset, String(offset));
      h.set(H.epoch, top.epoch);
      h.set(H.expires, String(now + options.ttlMs));
      h.set(H.metaExpires, String(now + metaTtl));
      h.set(H.size, String(options.size));
      h.set(H.prev, String(top.seq));
      const v = version ?? (top.version > 0 ? { version: top.version, epoch: top.versionEpoch } : undefined);
      if (v !== undefined) {
        h.set(H.version, String(v.version));
        if (v.epoch !== '') h.set(H.versionEpoch, encodeURIComponent(v.epoch)); // any string: header values are trimmed, without CR/LF
      }
      h.set('Nats-Expected-Last-Subject-Sequence', String(top.seq));
      // JetStream checks the message id before the expected sequence: a repeat is answered with the first one's sequence
      if (idempotent !== undefined) h.set('Nats-Msg-Id', msgId(channel, idempotent.key));
      try {
        const ack = await js.publish(this.link.names.history(channel), body, { headers: h });
        if (ack.duplicate) {
          idempotent?.duplicate?.();
          return await this.#positionAt(channel, ack.seq);
        }
        this.#remember(channel, {
          seq: ack.seq,
          offset,
          epoch: top.epoch,
          size: options.size,
          metaExpires: now + metaTtl,
          version: v?.version ?? 0,
          versionEpoch: v?.epoch ?? '',
          msg: undefined,
        });
        const every = Math.max(1, Math.ceil(options.size / 2));
        if (offset > options.size && offset % every === 0) void this.#purge(channel, options.size);
        return { offset, epoch: top.epoch };
      } catch (err) {
        this.#tops.delete(channel);
        if (!isWrongLastSequence(err)) throw err; // another node appended first: read the new top
      }
    }
    throw new Error(`history of ${channel}: too much contention appending`);
  }

  /** The position of the message at stream sequence `seq` (an idempotent append's first result); the channel's top if it was purged since. */
  async #positionAt(channel: string, seq: number): Promise<StreamPosition> {
    const { jsm } = await this.ready();
    try {
      const m = await directGet(jsm, this.link.names.historyStream, { seq });
      return { offset: num(m.header, H.offset), epoch: m.header.get(H.epoch) };
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const top = await this.#top(channel);
      return { offset: top.offset, epoch: top.epoch };
    }
  }

  #remember(channel: string, top: Top): void {
    if (this.#tops.size >= 100_000) this.#tops.clear();
    this.#tops.set(channel, top);
  }

  async #purge(channel: string, keep: number): Promise<void> {
    try {
      const { jsm } = await this.ready();
      await jsm.streams.purge(this.link.names.historyStream, { filter: this.link.names.history(channel), keep });
    } catch {
      // best effort: reads ignore what is outside the window anyway
    }
  }

  async position(channel: string): Promise<StreamPosition> {
    const top = await this.#top(channel);
    return { offset: top.offset, epoch: top.epoch };
  }

  async read(channel: string, options: HistoryReadOptions): Promise<HistoryReadResult> {
    const top = await this.#top(channel);
    const position = { offset: top.offset, epoch: top.epoch };
    const since = options.since;
    if (since !== undefined && since.epoch !== '' && since.epoch !== top.epoch) throw new EpochMismatchError(position);
    if (options.limit === 0 || top.offset === 0) return { publications: [], position };
    const reverse = options.reverse === true;
    // offsets kept: (lower, upper)
    let lower = top.offset - top.size;
    let upper = top.offset + 1;
    if (since !== undefined) {
      if (reverse) upper = Math.min(upper, since.offset);
      else lower = Math.max(lower, since.offset);
    }
    const { jsm } = await this.ready();
    const now = Date.now();
    const newestFirst: Publication[] = [];
    let m: StoredMsg | undefined = top.msg;
    let seq = top.seq;
    for (;;) {
      if (m === undefined) {
        try {
          m = await directGet(jsm, this.link.names.historyStream, { seq });
        } catch (err) {
          if (isNotFound(err)) break; // purged or expired: the chain ends here
          throw err;
        }
      }
      const h: MsgHdrs = m.header;
      const data = m.data;
      const offset = num(h, H.offset);
      if (offset <= lower || offset === 0 || h.get(H.epoch) !== top.epoch) break;
      if (offset < upper && num(h, H.expires) > now) {
        newestFirst.push(decodePub(dec.decode(data), offset, top.epoch, false));
        if (reverse && options.limit > 0 && newestFirst.length >= options.limit) break;
      }
      seq = num(h, H.prev);
      m = undefined;
      if (seq <= 0) break;
    }
    const pubs = reverse ? newestFirst : newestFirst.reverse();
    return { publications: options.limit > 0 ? pubs.slice(0, options.limit) : pubs, position };
  }

  async remove(channel: string): Promise<void> {
    this.#tops.delete(channel);
    const { jsm } = await this.ready();
    await jsm.streams.purge(this.link.names.historyStream, { filter: this.link.names.history(channel) });
  }

  async close(): Promise<void> {
    await this.link.release();
  }
}
