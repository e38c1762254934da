import type { HistoryOptions, IdempotentPublish, Publication, StreamPosition, VersionedPublish } from '@switchboard/server';
import { encodeStored, encodeWire, newEpoch, pubMessage } from './codec.js';
import { DEFAULT_META_TTL_MS, historyScripts, type RedisClient } from './commands.js';
import { keys } from './shards.js';

/** At most this many publications in one Lua script call or one batched PUBLISH (bounds Redis's time per call). */
export const MAX_BATCH = 512;

/** Batches of one channel in Redis at once (they run in order on the channel's one connection). */
const MAX_IN_FLIGHT = 2;

/**
 * Queued writes of a channel, as the commands they will become: a run of frames (publications
 * without history, joins, leaves: one PUBLISH, one promise shared by all of them, since each
 * resolves to nothing), a run of history publications sharing their options (one script call; each
 * gets its own position), or one idempotent/versioned publication (its own script call).
 */
type Run =
  | { kind: 'frames'; frames: string[]; promise: Promise<undefined>; resolve: (p: undefined) => void; reject: (e: unknown) => void }
  | {
      kind: 'history';
      options: HistoryOptions;
      publish: boolean;
      pubs: Publication[];
      resolves: ((p: StreamPosition) => void)[];
      rejects: ((e: unknown) => void)[];
    }
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
  runs: Run[];
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
    const q = this.#queue(channel);
    const last = q.runs[q.runs.length - 1];
    let run: Extract<Run, { kind: 'history' }>;
    if (last?.kind === 'history' && last.pubs.length < MAX_BATCH && last.publish === publish && sameOptions(last.options, options)) run = last;
    else {
      run = { kind: 'history', options, publish, pubs: [], resolves: [], rejects: [] };
      q.runs.push(run);
    }
    run.pubs.push(pub);
    const promise = new Promise<StreamPosition>((resolve, reject) => {
      run.resolves.push(resolve);
      run.rejects.push(reject);
    });
    this.#queued(channel, q);
    return promise;
  }

  /**
   * A message for the channel's pub/sub channel without history: a publication (`p0::...`), a join
   * or a leave. Frames queued together share one promise: they go out in one PUBLISH and none has a
   * result of its own.
   */
  frame(channel: string, frame: string): Promise<undefined> {
    const q = this.#queue(channel);
    const last = q.runs[q.runs.length - 1];
    if (last?.kind === 'frames' && last.frames.length < MAX_BATCH) {
      last.frames.push(frame);
      return last.promise;
    }
    let resolve!: (p: undefined) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<undefined>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    q.runs.push({ kind: 'frames', frames: [frame], promise, resolve, reject });
    this.#queued(channel, q);
    return promise;
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
    return new Promise((resolve, reject) => {
      const q = this.#queue(channel);
      q.runs.push({ kind: 'idempotent', pub, options, idempotent, version, resolve, reject });
      this.#queued(channel, q);
    });
  }

  #queue(channel: string): ChannelQueue {
    let q = this.#queues.get(channel);
    if (q === undefined) {
      q = { runs: [], busy: 0 };
      this.#queues.set(channel, q);
    }
    return q;
  }

  #queued(channel: string, q: ChannelQueue): void {
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
        if (q === undefined || q.busy >= MAX_IN_FLIGHT || q.runs.length === 0) continue;
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
    const runs = q.runs;
    q.runs = [];
    q.busy++;
    // one command per run, in the order of the runs
    const sent = runs.map((run) => (run.kind === 'frames' ? this.#frameRun(channel, run, c) : run.kind === 'history' ? this.#appendRun(channel, run, c) : this.#idempotentOne(channel, run, c)));
    void Promise.allSettled(sent).then(() => {
      q.busy--;
      // what queued up while this batch was in Redis leaves now, before the node turns to other
      // work (such as the delivery of this very batch): Redis works while the node does
      if (q.runs.length > 0) {
        const c = this.target.client(channel);
        this.#send(channel, q, c);
      } else if (q.busy === 0) this.#queues.delete(channel);
    });
  }

  async #appendRun(channel: string, run: HistoryRun, c: RedisClient): Promise<void> {
    const k = keys(this.target.prefix, channel);
    const { publish, options, pubs } = run;
    const stored: string[] = [];
    // the published forms, only when one differs from its stored form (delivery targeting)
    let wire: string[] | undefined;
    for (let n = 0; n < pubs.length; n++) {
      const pub = pubs[n]!;
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
        stored.join('\n'),
        stored.length,
      );
      const top = Number(first);
      const e = String(epoch);
      for (let n = 0; n < run.resolves.length; n++) run.resolves[n]!({ offset: top + n, epoch: e });
    } catch (err) {
      for (const reject of run.rejects) reject(err);
    }
  }

  async #idempotentOne(channel: string, op: IdempotentRun, c: RedisClient): Promise<void> {
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

  async #frameRun(channel: string, run: FramesRun, c: RedisClient): Promise<void> {
    const msg = run.frames.length === 1 ? run.frames[0]! : `b${run.frames.join('\n')}`;
    try {
      await (c as unknown as Record<string, (ch: string, m: string) => Promise<number>>)[this.target.publishCommand]!.call(c, this.target.pubsub(channel), msg);
      run.resolve(undefined);
    } catch (err) {
      run.reject(err);
    }
  }
}

type HistoryRun = Extract<Run, { kind: 'history' }>;
type FramesRun = Extract<Run, { kind: 'frames' }>;
type IdempotentRun = Extract<Run, { kind: 'idempotent' }>;
type Corkable = { cork(): void; uncork(): void };

/** One script call shares the history options: a change of size or TTL starts a new call. */
function sameOptions(x: HistoryOptions, y: HistoryOptions): boolean {
  return x === y || (x.size === y.size && x.ttlMs === y.ttlMs && x.metaTtlMs === y.metaTtlMs);
}
