import type { HistoryOptions, IdempotentPublish, Publication, StreamPosition, VersionedPublish } from '@switchboard/server';
import { encodeStored, encodeWire, newEpoch, pubMessage } from './codec.js';
import { DEFAULT_META_TTL_MS, historyScripts, type RedisClient } from './commands.js';
import { keys } from './shards.js';

/** At most this many publications in one Lua script call or one batched PUBLISH (bounds Redis's time per call). */
export const MAX_BATCH = 512;

/** Batches of one channel in Redis at once (they run in order on the channel's one connection). */
const MAX_IN_FLIGHT = 2;

/** One queued write on a channel: a publication (with or without history), a join or a leave frame. */
type Op =
  | { kind: 'history'; pub: Publication; options: HistoryOptions; publish: boolean; resolve: (p: StreamPosition) => void; reject: (e: unknown) => void }
  | { kind: 'frame'; frame: string; resolve: (p: undefined) => void; reject: (e: unknown) => void }
  | {
      kind: 'idempotent';
      pub: Publication;
      options: HistoryOptions | undefined;
      idempotent: IdempotentPublish | undefined;
      version: VersionedPublish | undefined;
      resolve: (p: StreamPosition | undefined) => void;
      reject: (e: unknown) => void;
    };

interface ChannelQueue {
  ops: Op[];
  /**
   * Flushes of this channel in Redis. At most MAX_IN_FLIGHT: the next waits, so the queue grows into
   * one batch while Redis works; two let this node prepare a batch while Redis runs the previous one.
   */
  busy: number;
}

export interface BatchTarget {
  readonly prefix: string;
  /** The command connection (or Cluster) that owns `channel`. */
  client(channel: string): RedisClient;
  /** The pub/sub channel of `channel` and the publish command ('publish' or 'spublish'). */
  pubsub(channel: string): string;
  readonly publishCommand: 'publish' | 'spublish';
}

const batchers = new WeakMap<BatchTarget, WriteBatcher>();

/** The one batcher of a set of connections (the broker's publications and the history store's appends share its order). */
export function batcherOf(target: BatchTarget): WriteBatcher {
  let b = batchers.get(target);
  if (b === undefined) {
    b = new WriteBatcher(target);
    batchers.set(target, b);
  }
  return b;
}

/**
 * Batches a node's writes per channel and event-loop turn: every publication, join and leave made
 * on a channel in one turn (and while the previous batch of that channel is in Redis) goes out as
 * ONE command, one Lua script call appending all history publications and publishing them in one
 * message, or one PUBLISH of the joined frames. A channel's commands go in order on the one
 * connection of its shard, and each script assigns consecutive offsets and publishes them in the
 * same atomic step, so offsets and delivery order agree across nodes exactly as with one call per
 * publication. Batches of different channels of a turn are written to a shard in one socket write.
 */
export class WriteBatcher {
  readonly #queues = new Map<string, ChannelQueue>();
  readonly #ready = new Set<string>();
  #scheduled = false;

  constructor(readonly target: BatchTarget) {}

  append(channel: string, pub: Publication, options: HistoryOptions, publish: boolean): Promise<StreamPosition> {
    if (!(options.size >= 1) || !(options.ttlMs >= 1)) return Promise.reject(new RangeError('history size and ttl must be positive'));
    return new Promise((resolve, reject) => this.#push(channel, { kind: 'history', pub, options, publish, resolve, reject }));
  }

  /** A message for the channel's pub/sub channel without history: a publication (`p0::...`), a join or a leave. */
  frame(channel: string, frame: string): Promise<undefined> {
    return new Promise((resolve, reject) => this.#push(channel, { kind: 'frame', frame, resolve, reject }));
  }

  /**
   * An idempotent and/or versioned publication (a version only with history): its own script call,
   * in order with the channel's other writes, which checks and records the key and the version in
   * the same atomic step as the append.
   */
  idempotent(
    channel: string,
    pub: Publication,
    options: HistoryOptions | undefined,
    idempotent: IdempotentPublish | undefined,
    version?: VersionedPublish,
  ): Promise<StreamPosition | undefined> {
    if (options !== undefined && (!(options.size >= 1) || !(options.ttlMs >= 1))) return Promise.reject(new RangeError('history size and ttl must be positive'));
    if (version !== undefined && options === undefined) return Promise.reject(new RangeError('a publish version needs history'));
    return new Promise((resolve, reject) => this.#push(channel, { kind: 'idempotent', pub, options, idempotent, version, resolve, reject }));
  }

  #push(channel: string, op: Op): void {
    let q = this.#queues.get(channel);
    if (q === undefined) {
      q = { ops: [], busy: 0 };
      this.#queues.set(channel, q);
    }
    q.ops.push(op);
    if (q.busy < MAX_IN_FLIGHT) this.#mark(channel);
  }

  #mark(channel: string): void {
    this.#ready.add(channel);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    const channels = [...this.#ready];
    this.#ready.clear();
    const corked = new Set<Corkable>();
    try {
      for (const channel of channels) {
        const q = this.#queues.get(channel);
        if (q === undefined || q.busy >= MAX_IN_FLIGHT || q.ops.length === 0) continue;
        const c = this.target.client(channel);
        // a standalone connection's socket (a Cluster routes per command: no one socket to cork)
        const stream = (c as { stream?: Partial<Corkable> }).stream;
        if (typeof stream?.cork === 'function' && typeof stream.uncork === 'function' && !corked.has(stream as Corkable)) {
          stream.cork();
          corked.add(stream as Corkable);
        }
        this.#send(channel, q, c);
      }
    } finally {
      // everything of this turn leaves in one write per shard
      for (const s of corked) s.uncork();
    }
  }

  #send(channel: string, q: ChannelQueue, c: RedisClient): void {
    const ops = q.ops;
    q.ops = [];
    q.busy++;
    const sent: Promise<unknown>[] = [];
    // consecutive ops of one kind make one command; commands keep the order of the ops
    for (let i = 0; i < ops.length; ) {
      const first = ops[i]!;
      let j = i + 1;
      while (j < ops.length && j - i < MAX_BATCH && sameRun(first, ops[j]!)) j++;
      const run = ops.slice(i, j);
      if (first.kind === 'idempotent') sent.push(this.#idempotentOne(channel, first, c));
      else sent.push(first.kind === 'history' ? this.#appendRun(channel, run as HistoryOp[], c) : this.#frameRun(channel, run as FrameOp[], c));
      i = j;
    }
    void Promise.allSettled(sent).then(() => {
      q.busy--;
      if (q.ops.length > 0) this.#mark(channel);
      else if (q.busy === 0) this.#queues.delete(channel);
    });
  }

  async #appendRun(channel: string, run: HistoryOp[], c: RedisClient): Promise<void> {
    const k = keys(this.target.prefix, channel);
    const { publish, options } = run[0]!;
    const stored: string[] = [];
    // the published forms, only when one differs from its stored form (delivery targeting)
    let wire: string[] | undefined;
    for (let n = 0; n < run.length; n++) {
      const pub = run[n]!.pub;
      const s = encodeStored(pub);
      stored.push(s);
      if (!publish) continue;
      if (pub.delivery !== undefined && wire === undefined) wire = stored.slice(0, n);
      if (wire !== undefined) wire.push(pub.delivery === undefined ? s : encodeWire(pub));
    }
    const metaTtl = options.metaTtlMs ?? DEFAULT_META_TTL_MS;
    try {
      const [first, epoch] = await historyScripts(c).sbAppend(
        k.stream,
        k.meta,
        Math.ceil(metaTtl),
        newEpoch(),
        publish ? this.target.pubsub(channel) : '',
        this.target.publishCommand,
        Math.floor(options.size),
        Math.ceil(options.ttlMs),
        publish ? (wire === undefined ? '=' : wire.join('\n')) : '',
        ...stored,
      );
      for (let n = 0; n < run.length; n++) run[n]!.resolve({ offset: Number(first) + n, epoch: String(epoch) });
    } catch (err) {
      for (const op of run) op.reject(err);
    }
  }

  async #idempotentOne(channel: string, op: IdempotentOp, c: RedisClient): Promise<void> {
    const k = keys(this.target.prefix, channel);
    const { pub, options, idempotent, version } = op;
    const stored = encodeStored(pub);
    const wire = options === undefined ? pubMessage(pub) : pub.delivery === undefined ? stored : encodeWire(pub);
    try {
      const [status, result] = await historyScripts(c).sbIdempotent(
        k.stream,
        k.meta,
        k.idempotent(idempotent?.key ?? ''),
        Math.ceil(options?.metaTtlMs ?? DEFAULT_META_TTL_MS),
        newEpoch(),
        this.target.pubsub(channel),
        this.target.publishCommand,
        options === undefined ? '' : Math.floor(options.size),
        Math.ceil(options?.ttlMs ?? 0),
        wire,
        stored,
        Math.max(1, Math.ceil(idempotent?.ttlMs ?? 1)),
        idempotent === undefined ? '0' : '1',
        version === undefined ? '0' : version.version,
        version?.epoch ?? '',
      );
      if (status === 'dup') idempotent?.duplicate?.();
      if (status === 'stale') version?.stale?.();
      const colon = result.indexOf(':');
      op.resolve(colon < 0 ? undefined : { offset: Number(result.slice(0, colon)), epoch: result.slice(colon + 1) });
    } catch (err) {
      op.reject(err);
    }
  }

  async #frameRun(channel: string, run: FrameOp[], c: RedisClient): Promise<void> {
    const msg = run.length === 1 ? run[0]!.frame : `b${run.map((op) => op.frame).join('\n')}`;
    try {
      await (c as unknown as Record<string, (ch: string, m: string) => Promise<number>>)[this.target.publishCommand]!.call(c, this.target.pubsub(channel), msg);
      for (const op of run) op.resolve(undefined);
    } catch (err) {
      for (const op of run) op.reject(err);
    }
  }
}

type HistoryOp = Extract<Op, { kind: 'history' }>;
type Corkable = { cork(): void; uncork(): void };
type FrameOp = Extract<Op, { kind: 'frame' }>;
type IdempotentOp = Extract<Op, { kind: 'idempotent' }>;

function sameRun(a: Op, b: Op): boolean {
  if (a.kind !== b.kind || a.kind === 'idempotent') return false;
  if (a.kind === 'frame') return true;
  // one script call shares the history options: a change of size or TTL starts a new call
  const h = b as HistoryOp;
  const x = a.options;
  const y = h.options;
  return a.publish === h.publish && x.size === y.size && x.ttlMs === y.ttlMs && x.metaTtlMs === y.metaTtlMs;
}
