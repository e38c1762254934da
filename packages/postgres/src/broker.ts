import { randomUUID } from 'node:crypto';
import type { Broker, BrokerEventHandler, ClientInfo, HistoryOptions, IdempotentPublish, Publication, StreamPosition, VersionedPublish } from '@switchboard/server';
import postgres from 'postgres';
import { decodeNote, encodeJoinLeave, encodePub, type Note, rowPub } from './codec.js';
import { Database, type PostgresConnectionOptions, type Sql } from './db.js';
import { AppendBatcher } from './batch.js';
import { appendArgs } from './history.js';
import { Janitor } from './janitor.js';

/** Queue entry that makes the reader catch every subscribed channel up (after the listener reconnected). */
const CATCH_UP = Symbol('catch-up');
/** Unsubscribe goes through the queue too: what arrived before it is still delivered. */
type Item = string | typeof CATCH_UP | { unsub: string } | { unpattern: string };

/** Where this node stands in a channel's stream: offset -1 until the first wake-up tells it. */
interface Cursor {
  epoch: string;
  offset: number;
}

interface Row {
  name: string;
  epoch: string;
  offset: string;
  data: string;
  info: ClientInfo | null;
  tags: Record<string, string> | null;
  time_ms: string | null;
}

export interface PostgresBrokerOptions {
  /** This node's name in the node registry (`<schema>.nodes`). */
  readonly nodeName?: string;
  /** How often the node refreshes its registry row and expired rows are deleted (default 5 s). */
  readonly janitorIntervalMs?: number;
}

/**
 * Moves publications between nodes through PostgreSQL. Every node LISTENs on one channel named
 * after the schema. A publication with history is a committed row: its NOTIFY (sent on commit, in
 * commit order) names the channel and offset and carries the row's content, which a node uses
 * only when it is the very next offset after the last one it delivered. Otherwise (a gap, an epoch
 * change, the catch-up after the listener reconnected) the node reads the committed rows after
 * its cursor, so a lost or dropped notification costs nothing but latency. Publications without
 * history, joins, leaves and control messages travel in the notification itself; anything over
 * NOTIFY's payload limit goes through the `messages` table.
 */
export class PostgresBroker implements Broker {
  readonly db: Database;
  readonly nodeId = randomUUID();
  readonly #options: PostgresBrokerOptions;
  #handler: BrokerEventHandler | undefined;
  #listener: Sql | undefined;
  #listening = false;
  #reconnecting = false;
  #closed = false;
  readonly #cursors = new Map<string, Cursor>();
  #queue: Item[] = [];
  #draining = false;
  /** Per-channel chains so that sends from this node to one channel leave in order despite the pool. */
  readonly #chains = new Map<string, Promise<unknown>>();
  #janitor: Janitor | undefined;
  readonly #appends: AppendBatcher;
  readonly #syncs = new Map<string, { channel: string; pattern?: boolean; resolve: () => void }>();
  /** Pattern prefixes subscribed (the node's index does the matching), active from their barrier on. */
  readonly #patterns = new Set<string>();
  #syncSeq = 0;
  readonly #fetchQ: string;
  /** Times the listener connection came back (for tests and metrics). */
  reconnects = 0;
  /** Rows read after a wake-up or a catch-up (for tests and metrics). */
  rowsRead = 0;

  constructor(options: (PostgresConnectionOptions | { db: Database }) & PostgresBrokerOptions) {
    this.db = 'db' in options ? options.db.acquire() : new Database(options).acquire();
    this.#options = options;
    this.#appends = new AppendBatcher(this.db);
    const s = this.db.s;
    this.#fetchQ = `SELECT q.name, c.epoch, h."offset", h.data, h.info, h.tags, h.time_ms
      FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS q(name, epoch, lo, hi)
      JOIN ${s}.channels c ON c.name = q.name
      JOIN ${s}.history h ON h.channel_id = c.id
        AND h."offset" > (CASE WHEN q.epoch = '' OR q.epoch = c.epoch THEN q.lo ELSE 0 END)
        AND h."offset" <= q.hi AND h.expires_at > now()
      ORDER BY q.name, h."offset"`;
  }

  /** Whether the LISTEN connection is up (readiness). */
  get listening(): boolean {
    return this.#listening;
  }

  async start(handler: BrokerEventHandler): Promise<void> {
    this.#handler = handler;
    await this.db.ready();
    await this.#listen();
    this.#janitor = new Janitor(this.db, { id: this.nodeId, name: this.#options.nodeName ?? this.nodeId }, this.#options.janitorIntervalMs ?? 5000);
    this.#janitor.start();
  }

  async #listen(): Promise<void> {
    let l: Sql | undefined;
    // onnotify is postgres.js's own per-connection hook (not in its typings): we run LISTEN ourselves
    // on a dedicated connection, so a drop is seen at once and answered by a catch-up read
    const options = {
      max: 1,
      idle_timeout: 0,
      max_lifetime: null,
      connect_timeout: 5,
      fetch_types: false,
      onnotice: () => {},
      connection: { application_name: 'switchboard-listen' },
      onnotify: (_channel: string, payload: string) => this.#push(payload),
      onclose: () => {
        if (this.#listener !== l || l === undefined) return;
        this.#listening = false;
        this.#listener = undefined;
        void l.end({ timeout: 0 });
        void this.#reconnect();
      },
    };
    l = postgres(this.db.dsn, options as postgres.Options<Record<string, never>>);
    try {
      await l.unsafe(`LISTEN "${this.db.schema}"`);
    } catch (err) {
      l = undefined;
      throw err;
    }
    this.#listener = l;
    this.#listening = true;
  }

  async #reconnect(): Promise<void> {
    if (this.#reconnecting) return;
    this.#reconnecting = true;
    let delay = 50;
    try {
      while (!this.#closed) {
        try {
          await this.#listen();
          this.reconnects++;
          this.#push(CATCH_UP); // read whatever committed while nobody listened, then tell the node
          return;
        } catch {
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(2000, delay * 2);
        }
      }
    } finally {
      this.#reconnecting = false;
    }
  }

  #push(item: Item): void {
    this.#queue.push(item);
    if (!this.#draining) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const batch = this.#queue.splice(0, 5000);
        for (let tries = 1; ; tries++) {
          try {
            await this.#process(batch);
            break;
          } catch {
            if (this.#closed) return;
            if (tries >= 5) {
              // the rows cannot be read now: subscribers compare positions and resync from history
              this.#handler?.onReconnect?.();
              break;
            }
            await new Promise((r) => setTimeout(r, 100 * tries));
          }
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  /** Reads what a batch of notifications points at (spilled messages, committed rows), then hands everything to the node in order. */
  async #process(batch: Item[]): Promise<void> {
    const refs: string[] = [];
    for (const it of batch) if (typeof it === 'string' && it.charCodeAt(0) === 114 /* r */) refs.push(it.slice(1));
    const bodies = new Map<string, string>();
    if (refs.length > 0) {
      const rows = await this.db.sql.unsafe<{ id: string; body: string }[]>(`SELECT id::text, body FROM ${this.db.s}.messages WHERE id = ANY($1::bigint[])`, [refs], { prepare: true });
      for (const r of rows) bodies.set(r.id, r.body);
    }
    // first pass, in queue order: apply (un)subscriptions, decode, and note which cursor each step sees
    // `pattern`: a publication also handed to the node's pattern subscriptions
    const steps: { note: Note | typeof CATCH_UP; cursor: Cursor | undefined; inline?: boolean; pattern?: boolean }[] = [];
    const waiters: (() => void)[] = [];
    const ranges = new Map<string, { epoch: string; lo: number; hi: number }>();
    // where each channel's cursor will stand at this point of the batch
    const sim = new Map<string, Cursor>();
    let caughtUp = false;
    for (const it of batch) {
      if (typeof it === 'object') {
        if ('unsub' in it) this.#cursors.delete(it.unsub);
        else this.#patterns.delete(it.unpattern);
        continue;
      }
      if (it === CATCH_UP) {
        steps.push({ note: CATCH_UP, cursor: undefined });
        for (const [ch, c] of this.#cursors) if (c.offset >= 0) ranges.set(ch, { epoch: c.epoch, lo: c.offset, hi: Number.MAX_SAFE_INTEGER });
        caughtUp = true;
        continue;
      }
      let n = decodeNote(it);
      if (n?.kind === 'ref') {
        const body = bodies.get(n.id);
        n = body === undefined ? undefined : decodeNote(body); // gone (older than a minute): lost, like a dropped notification
      }
      if (n === undefined || n.kind === 'ref') continue;
      if (n.kind === 'sync') {
        // our subscribe barrier: from here on the channel's notifications are delivered
        const waiting = this.#syncs.get(n.token);
        if (waiting === undefined) continue;
        this.#syncs.delete(n.token);
        if (waiting.pattern === true) this.#patterns.add(waiting.channel);
        else if (!this.#cursors.has(waiting.channel)) this.#cursors.set(waiting.channel, { epoch: '', offset: -1 });
        steps.push({ note: n, cursor: undefined });
        waiters.push(waiting.resolve);
        continue;
      }
      const cursor = n.kind === 'control' ? undefined : this.#cursors.get(n.channel);
      // every node hears every notification: with a pattern subscribed, each publication goes to the node's pattern index too
      const pattern = this.#patterns.size > 0 && (n.kind === 'pub' || n.kind === 'hint');
      if (n.kind !== 'control' && cursor === undefined) {
        if (pattern) steps.push({ note: n, cursor, pattern }); // not subscribed here: for the patterns only
        continue;
      }
      if (n.kind !== 'hint' || cursor === undefined) {
        steps.push({ note: n, cursor, pattern });
        continue;
      }
      // the content in the notification is used only for the very next offset (or the first one
      // since subscribe); anything else is read from the committed rows, from the cursor on
      const at = sim.get(n.channel) ?? { ...cursor };
      const next = at.offset < 0 || (at.epoch === n.epoch && n.offset === at.offset + 1);
      const inline = next && !(caughtUp && cursor.offset >= 0);
      if (!inline && !(at.epoch === n.epoch && n.offset <= at.offset)) {
        const r = ranges.get(n.channel);
        if (r !== undefined) r.hi = Math.max(r.hi, n.offset);
        else ranges.set(n.channel, { epoch: at.epoch, lo: at.offset, hi: n.offset });
      }
      steps.push({ note: n, cursor, inline, pattern });
      sim.set(n.channel, { epoch: n.epoch, offset: Math.max(n.offset, at.epoch === n.epoch ? at.offset : 0) });
    }
    const fetched = new Map<string, { rows: Row[]; i: number }>();
    if (ranges.size > 0) {
      const names = [...ranges.keys()];
      const rs = [...ranges.values()];
      const rows = await this.db.sql.unsafe<Row[]>(this.#fetchQ, [names, rs.map((r) => r.epoch), rs.map((r) => r.lo), rs.map((r) => r.hi)], { prepare: true });
      this.rowsRead += rows.length;
      for (const r of rows) {
        let f = fetched.get(r.name);
        if (f === undefined) fetched.set(r.name, (f = { rows: [], i: 0 }));
        f.rows.push(r);
      }
    }

    const h = this.#handler;
    if (h === undefined) return;
    for (const { note: n, cursor, inline, pattern } of steps) {
      if (pattern === true) {
        const note = n as Extract<Note, { kind: 'pub' | 'hint' }>; // only those are marked
        h.onPatternPublication?.(note.channel, note.pub);
        if (cursor === undefined) continue;
      }
      if (n === CATCH_UP) {
        for (const [ch, c] of this.#cursors) this.#emitRows(h, ch, c, fetched, Number.MAX_SAFE_INTEGER, undefined);
        h.onReconnect?.();
        continue;
      }
      switch (n.kind) {
        case 'sync':
          break;
        case 'control':
          h.onControl(n.message);
          break;
        case 'pub':
          h.onPublication(n.channel, n.pub);
          break;
        case 'join':
          h.onJoin(n.channel, n.info);
          break;
        case 'leave':
          h.onLeave(n.channel, n.info);
          break;
        case 'hint': {
          const c = cursor!;
          if (c.offset >= 0 && c.epoch === n.epoch && n.offset <= c.offset) break; // delivered already
          if (inline) {
            // the next offset (a gap here would be the core's to see: it makes subscribers resync)
            h.onPublication(n.channel, n.pub);
            c.epoch = n.epoch;
            c.offset = n.offset;
          } else this.#emitRows(h, n.channel, c, fetched, n.offset, n.pub.delivery);
          break;
        }
      }
    }
    for (const w of waiters) w();
  }

  /** Hands the fetched rows of `channel` up to `upTo` to the node, advancing its cursor. */
  #emitRows(h: BrokerEventHandler, channel: string, c: Cursor, fetched: Map<string, { rows: Row[]; i: number }>, upTo: number, delivery: Publication['delivery']): void {
    const f = fetched.get(channel);
    let emitted = false;
    while (f !== undefined && f.i < f.rows.length) {
      const r = f.rows[f.i]!;
      const off = Number(r.offset);
      if (off > upTo) break;
      f.i++;
      if (c.epoch === r.epoch && off <= c.offset) continue; // delivered already
      const pub = rowPub(r, r.epoch);
      h.onPublication(channel, off === upTo && delivery !== undefined ? { ...pub, delivery } : pub);
      c.epoch = r.epoch;
      c.offset = off;
      emitted = true;
    }
    // announced but not there (trimmed or expired before it was read): the next read starts after it
    if (!emitted && c.offset >= 0 && upTo !== Number.MAX_SAFE_INTEGER && upTo > c.offset) c.offset = upTo;
  }

  /**
   * Sends a barrier through NOTIFY and resolves when it comes back on the LISTEN connection: the
   * notifications of everything committed before it arrived before it (commit order) and are not
   * delivered for this channel; everything committed after is.
   */
  async subscribe(channel: string): Promise<void> {
    await this.#barrier(channel, false);
  }

  async #barrier(channel: string, pattern: boolean): Promise<void> {
    if (!this.#listening) throw new Error('PostgreSQL listener is not connected');
    const token = `${this.nodeId}:${++this.#syncSeq}`;
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<void>((resolve, reject) => {
      this.#syncs.set(token, { channel, pattern, resolve });
      timer = setTimeout(() => {
        this.#syncs.delete(token);
        reject(new Error('PostgreSQL listener did not confirm the subscription in 10 s'));
      }, 10_000);
    });
    arrived.catch(() => {}); // awaited below; never an unhandled rejection if the send fails first
    try {
      await this.db.run((sql) => sql.unsafe(`SELECT pg_notify($1, $2)`, [this.db.schema, `s${token}`], { prepare: true }));
      await arrived;
    } catch (err) {
      this.#syncs.delete(token);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#push({ unsub: channel });
  }

  /**
   * Pattern subscriptions (issue 21). Every node already hears every notification of the schema,
   * so a pattern costs no extra traffic: from the barrier's return on (the same barrier as
   * `subscribe`), each publication's notification is handed to the node's pattern index too, with
   * the content the notification carries (offset and epoch for a publication with history). A
   * notification that is lost (a listener reconnect, a spilled payload older than a minute) is lost
   * for pattern subscribers: they recover per channel when they subscribe again.
   */
  async subscribePattern(prefix: string): Promise<void> {
    await this.#barrier(prefix, true);
  }

  async unsubscribePattern(prefix: string): Promise<void> {
    this.#push({ unpattern: prefix });
  }

  #send(key: string, payload: string): Promise<void> {
    return this.#chain(key, async () => {
      await this.db.run((sql) => sql.unsafe(`SELECT ${this.db.s}._send($1::text)`, [payload], { prepare: true }));
    });
  }

  /** Runs `run` after this node's previous sends to `key`, so they leave in order despite the pool. */
  #chain<T>(key: string, run: () => Promise<T>): Promise<T> {
    const prev = this.#chains.get(key);
    const p = prev === undefined ? run() : prev.then(run, run);
    this.#chains.set(key, p);
    const clear = () => {
      if (this.#chains.get(key) === p) this.#chains.delete(key);
    };
    p.then(clear, clear);
    return p;
  }

  /** Publish versions are checked in the database, across nodes, under the channel's row lock (`_append_versioned`). */
  readonly versionedPublish = true;
  /**
   * Idempotency keys are checked and kept in the database (`<schema>.idempotency`), across nodes:
   * with history under the channel's row lock in the append's transaction, without history by an
   * atomic claim committed with the NOTIFY.
   */
  readonly idempotentPublish = true;

  async publish(
    channel: string,
    pub: Publication,
    options?: { history?: HistoryOptions; idempotent?: IdempotentPublish; version?: VersionedPublish },
  ): Promise<StreamPosition | undefined> {
    const idem = options?.idempotent;
    if (idem !== undefined) {
      if (options?.history !== undefined) return this.#idempotentAppend(channel, pub, options.history, idem, options.version);
      if (options?.version !== undefined) throw new RangeError('a publish version needs history');
      return this.#idempotentSend(channel, pub, idem);
    }
    if (options?.version !== undefined) {
      if (options.history === undefined) throw new RangeError('a publish version needs history');
      return this.#versioned(channel, pub, options.history, options.version);
    }
    if (options?.history !== undefined) return this.#appends.add(channel, pub, options.history);
    await this.#send(channel, encodePub(channel, pub));
    return undefined;
  }

  /** One versioned append, in its own transaction (not batched: its answer may be "stale"). */
  async #versioned(channel: string, pub: Publication, h: HistoryOptions, v: VersionedPublish): Promise<StreamPosition> {
    const args = [...appendArgsWithDelivery(channel, pub, h), v.version, v.epoch];
    const rows = await this.db.run((sql) =>
      sql.unsafe<{ o_offset: string; o_epoch: string; o_stale: boolean }[]>(
        `SELECT o_offset, o_epoch, o_stale FROM ${this.db.s}._append_versioned($1::text, $2::text, $3::text, $4::text, $5::bigint, $6::integer, $7::bigint, $8::bigint, $9::text, $10::bigint, $11::text)`,
        args,
        { prepare: true },
      ),
    );
    const row = rows[0]!;
    if (row.o_stale) v.stale?.();
    return { offset: Number(row.o_offset), epoch: row.o_epoch };
  }

  /** One idempotent append (with a version too, if given), in its own transaction: `_append_idempotent`. */
  async #idempotentAppend(channel: string, pub: Publication, h: HistoryOptions, idem: IdempotentPublish, v: VersionedPublish | undefined): Promise<StreamPosition | undefined> {
    const args = appendArgsWithDelivery(channel, pub, h);
    if (!(idem.ttlMs >= 1)) throw new RangeError('the idempotency ttl must be positive');
    const rows = await this.db.run((sql) =>
      sql.unsafe<{ o_offset: string | null; o_epoch: string | null; o_result: 'new' | 'dup' | 'stale' }[]>(
        `SELECT o_offset, o_epoch, o_result FROM ${this.db.s}._append_idempotent($1::text, $2::text, $3::text, $4::text, $5::bigint, $6::integer, $7::bigint, $8::bigint, $9::text, $10::bigint, $11::text, $12::text, $13::bigint)`,
        [...args, v?.version ?? null, v?.epoch ?? '', idem.key, Math.ceil(idem.ttlMs)],
        { prepare: true },
      ),
    );
    const row = rows[0]!;
    if (row.o_result === 'dup') idem.duplicate?.();
    else if (row.o_result === 'stale') v?.stale?.();
    return row.o_offset === null || row.o_epoch === null ? undefined : { offset: Number(row.o_offset), epoch: row.o_epoch };
  }

  /** An idempotent publication without history: the key claimed and the NOTIFY sent in one transaction. */
  async #idempotentSend(channel: string, pub: Publication, idem: IdempotentPublish): Promise<undefined> {
    if (!(idem.ttlMs >= 1)) throw new RangeError('the idempotency ttl must be positive');
    const sent = await this.#chain(channel, () =>
      this.db.run((sql) =>
        sql.unsafe<{ sent: boolean }[]>(`SELECT ${this.db.s}._send_idempotent($1::text, $2::text, $3::text, $4::bigint) AS sent`, [channel, encodePub(channel, pub), idem.key, Math.ceil(idem.ttlMs)], {
          prepare: true,
        }),
      ),
    );
    if (sent[0]?.sent !== true) idem.duplicate?.();
    return undefined;
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    await this.#send(channel, encodeJoinLeave('join', channel, info));
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    await this.#send(channel, encodeJoinLeave('leave', channel, info));
  }

  async publishControl(message: string): Promise<void> {
    await this.#send('', `c${message}`);
  }

  /** Channels this node is subscribed to (for leak checks). */
  get subscribedChannelCount(): number {
    return this.#cursors.size;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handler = undefined;
    this.#janitor?.stop();
    await this.#janitor?.remove();
    const l = this.#listener;
    this.#listener = undefined;
    this.#listening = false;
    await l?.end({ timeout: 0 });
    await this.db.release();
  }
}

/** The first nine arguments of `_append_versioned` and `_append_idempotent`: `appendArgs` and the publication's delivery. */
function appendArgsWithDelivery(channel: string, pub: Publication, h: HistoryOptions): (string | number | null)[] {
  return [...appendArgs(channel, pub, h), pub.delivery === undefined ? null : JSON.stringify(pub.delivery)];
}
