import type Database from 'better-sqlite3';
import type { AckResult, AckStore, AckTake } from '@switchboard/server';
import { MAX_UNACKED } from '@switchboard/server';
import type { SqliteHistoryStore } from './history.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sb_ack_consumers (
  channel TEXT NOT NULL,
  consumer TEXT NOT NULL,
  epoch TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (channel, consumer)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sb_ack_consumers_expiry ON sb_ack_consumers (expires_at);
CREATE TABLE IF NOT EXISTS sb_acks (
  channel TEXT NOT NULL,
  consumer TEXT NOT NULL,
  off INTEGER NOT NULL,
  due INTEGER NOT NULL,
  PRIMARY KEY (channel, consumer, off)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sb_acks_by_offset ON sb_acks (channel, off);
`;

interface ConsumerRow {
  epoch: string;
  expires_at: number;
}

/**
 * The ack store in the SQLite file of the history (the AckStore contract of `@switchboard/server`):
 * what each consumer has not acknowledged survives a restart of the node, so a client that comes
 * back to the restarted server gets it again. Same process, same file: tables `sb_ack_consumers`
 * (channel, consumer → epoch, expiry) and `sb_acks` (pending offsets and due times). Statements are
 * synchronous and each method is one transaction.
 */
export class SqliteAckStore implements AckStore {
  readonly #history: SqliteHistoryStore;
  readonly #add: (channel: string, consumer: string, epoch: string, offsets: readonly number[], dueAt: number, ttlMs: number) => void;
  readonly #ack: (channel: string, consumer: string, offsets: readonly number[]) => AckResult;
  readonly #take: (channel: string, consumer: string, upTo: number, dueAt: number, limit: number) => AckTake;
  readonly #drop: (channel: string, consumer: string, offsets: readonly number[]) => void;
  readonly #unacked: Database.Statement<[string, number, number], { consumer: string }>;
  readonly #sweep: () => void;
  #adds = 0;

  constructor(history: SqliteHistoryStore) {
    this.#history = history;
    const db = history.database;
    if (db === undefined) throw new Error('SqliteAckStore: the history store is closed');
    db.exec(SCHEMA);
    const q = {
      consumer: db.prepare<[string, string], ConsumerRow>('SELECT epoch, expires_at FROM sb_ack_consumers WHERE channel = ? AND consumer = ?'),
      putConsumer: db.prepare<[string, string, string, number]>(
        'INSERT INTO sb_ack_consumers (channel, consumer, epoch, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (channel, consumer) DO UPDATE SET epoch = excluded.epoch, expires_at = excluded.expires_at',
      ),
      forget: db.prepare<[string, string]>('DELETE FROM sb_acks WHERE channel = ? AND consumer = ?'),
      put: db.prepare<[string, string, number, number]>('INSERT INTO sb_acks (channel, consumer, off, due) VALUES (?, ?, ?, ?) ON CONFLICT (channel, consumer, off) DO UPDATE SET due = excluded.due'),
      count: db.prepare<[string, string], { n: number }>('SELECT count(*) AS n FROM sb_acks WHERE channel = ? AND consumer = ?'),
      trim: db.prepare<[string, string, string, string, number]>(
        'DELETE FROM sb_acks WHERE channel = ? AND consumer = ? AND off IN (SELECT off FROM sb_acks WHERE channel = ? AND consumer = ? ORDER BY off LIMIT ?)',
      ),
      del: db.prepare<[string, string, number]>('DELETE FROM sb_acks WHERE channel = ? AND consumer = ? AND off = ?'),
      due: db.prepare<[string, string, number, number], { off: number }>('SELECT off FROM sb_acks WHERE channel = ? AND consumer = ? AND due <= ? ORDER BY due, off LIMIT ?'),
      move: db.prepare<[number, string, string, number]>('UPDATE sb_acks SET due = ? WHERE channel = ? AND consumer = ? AND off = ?'),
      next: db.prepare<[string, string], { next: number | null }>('SELECT min(due) AS next FROM sb_acks WHERE channel = ? AND consumer = ?'),
      expired: db.prepare<[number], { channel: string; consumer: string }>('SELECT channel, consumer FROM sb_ack_consumers WHERE expires_at <= ? LIMIT 1000'),
      dropConsumer: db.prepare<[string, string]>('DELETE FROM sb_ack_consumers WHERE channel = ? AND consumer = ?'),
    };
    const live = (channel: string, consumer: string): ConsumerRow | undefined => {
      const c = q.consumer.get(channel, consumer);
      return c !== undefined && c.expires_at > this.#history.now() ? c : undefined;
    };
    this.#add = db.transaction((channel: string, consumer: string, epoch: string, offsets: readonly number[], dueAt: number, ttlMs: number) => {
      const c = q.consumer.get(channel, consumer);
      if (c !== undefined && (c.epoch !== epoch || c.expires_at <= this.#history.now())) q.forget.run(channel, consumer);
      q.putConsumer.run(channel, consumer, epoch, this.#history.now() + ttlMs);
      for (const off of offsets) q.put.run(channel, consumer, off, dueAt);
      const n = q.count.get(channel, consumer)!.n;
      if (n > MAX_UNACKED) q.trim.run(channel, consumer, channel, consumer, n - MAX_UNACKED);
    });
    this.#ack = db.transaction((channel: string, consumer: string, offsets: readonly number[]): AckResult => {
      const ok = live(channel, consumer) !== undefined;
      let acked = 0;
      const unknown: number[] = [];
      for (const off of offsets) {
        if (ok && q.del.run(channel, consumer, off).changes > 0) acked++;
        else unknown.push(off);
      }
      return { acked, unknown };
    });
    this.#take = db.transaction((channel: string, consumer: string, upTo: number, dueAt: number, limit: number): AckTake => {
      const c = live(channel, consumer);
      if (c === undefined) return { epoch: '', offsets: [], next: undefined };
      const offsets = q.due.all(channel, consumer, upTo === Number.POSITIVE_INFINITY ? Number.MAX_SAFE_INTEGER : upTo, limit).map((r) => r.off);
      for (const off of offsets) q.move.run(dueAt, channel, consumer, off);
      const next = q.next.get(channel, consumer)?.next ?? undefined;
      return { epoch: c.epoch, offsets: offsets.sort((a, b) => a - b), next: next === null ? undefined : next };
    });
    this.#drop = db.transaction((channel: string, consumer: string, offsets: readonly number[]) => {
      for (const off of offsets) q.del.run(channel, consumer, off);
    });
    this.#unacked = db.prepare<[string, number, number], { consumer: string }>(
      'SELECT a.consumer FROM sb_acks a JOIN sb_ack_consumers c ON c.channel = a.channel AND c.consumer = a.consumer WHERE a.channel = ? AND a.off = ? AND c.expires_at > ?',
    );
    this.#sweep = db.transaction(() => {
      for (const r of q.expired.all(this.#history.now())) {
        q.forget.run(r.channel, r.consumer);
        q.dropConsumer.run(r.channel, r.consumer);
      }
    });
  }

  #open(): void {
    if (this.#history.database === undefined) throw new Error('the SQLite ack store is closed (its history store was closed)');
  }

  add(channel: string, consumer: string, epoch: string, offsets: readonly number[], dueAt: number, ttlMs: number): Promise<void> {
    this.#open();
    if (++this.#adds % 1024 === 0) this.#sweep();
    if (offsets.length > 0) this.#add(channel, consumer, epoch, offsets, Math.floor(dueAt), Math.max(1, Math.ceil(ttlMs)));
    return Promise.resolve();
  }

  ack(channel: string, consumer: string, offsets: readonly number[]): Promise<AckResult> {
    this.#open();
    return Promise.resolve(this.#ack(channel, consumer, offsets));
  }

  take(channel: string, consumer: string, upTo: number, dueAt: number, limit: number): Promise<AckTake> {
    this.#open();
    return Promise.resolve(this.#take(channel, consumer, upTo, Math.floor(dueAt), limit));
  }

  drop(channel: string, consumer: string, offsets: readonly number[]): Promise<void> {
    this.#open();
    this.#drop(channel, consumer, offsets);
    return Promise.resolve();
  }

  unacknowledged(channel: string, offset: number): Promise<string[]> {
    this.#open();
    return Promise.resolve(
      this.#unacked
        .all(channel, offset, this.#history.now())
        .map((r) => r.consumer)
        .sort(),
    );
  }

  /** The file belongs to the history store: closing it closes this store too. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
