import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { EpochMismatchError, type HistoryOptions, type HistoryReadOptions, type HistoryReadResult, type HistoryStore, type Publication, type StreamPosition } from '@switchboard/server';

/** How long a stream's epoch and top outlive its last append unless the namespace says otherwise (30 days, as in memory). */
export const DEFAULT_META_TTL_MS = 30 * 24 * 3600 * 1000;

/** The schema this code writes; a file from a newer Switchboard is refused rather than misread. */
export const SCHEMA_VERSION = 1;

export interface SqliteHistoryOptions {
  /** The database file (created when missing; its directory must exist). `:memory:` for a throwaway store. */
  readonly path: string;
  /**
   * SQLite's `synchronous` setting with the write-ahead log. `normal` (default): a committed
   * publication survives the process being killed, the last few may be lost on power failure or an
   * OS crash. `full`: every commit is flushed to the disk first (survives power failure; slower).
   */
  readonly synchronous?: 'normal' | 'full';
  /** Run `PRAGMA quick_check` when opening (default true): a damaged file stops the start instead of failing later. */
  readonly integrityCheck?: boolean;
  /** Default for `HistoryOptions.metaTtlMs`. */
  readonly metaTtlMs?: number;
  /** How often expired publications and streams are deleted (default 10 s). */
  readonly sweepIntervalMs?: number;
  readonly now?: () => number;
}

/** The store cannot open its file, or the file is unusable: `message` says which file and why. */
export class SqliteEngineError extends Error {
  constructor(
    message: string,
    readonly reason: 'locked' | 'corrupt' | 'cannot-open' | 'newer-schema' | 'read-only',
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SqliteEngineError';
  }
}

interface StreamRow {
  epoch: string;
  top: number;
  meta_expires_at: number;
}

interface PendingAppend {
  channel: string;
  pub: Publication;
  options: HistoryOptions;
  resolve: (p: StreamPosition) => void;
  reject: (err: unknown) => void;
}

interface PubRow {
  seq: number;
  data: string;
  info: string | null;
  tags: string | null;
  time: number | null;
}

const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
function newEpoch(): string {
  const bytes = randomBytes(8);
  let out = '';
  for (let i = 0; i < 8; i++) out += letters[bytes[i]! % letters.length];
  return out;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sb_streams (
  channel TEXT PRIMARY KEY,
  epoch TEXT NOT NULL,
  top INTEGER NOT NULL,
  meta_expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sb_publications (
  channel TEXT NOT NULL,
  seq INTEGER NOT NULL,
  data TEXT NOT NULL,
  info TEXT,
  tags TEXT,
  time INTEGER,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (channel, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sb_publications_expiry ON sb_publications (expires_at);
`;

function describe(path: string): string {
  return path === ':memory:' ? 'the in-memory SQLite database' : `the SQLite file ${JSON.stringify(path)}`;
}

/** Turns what better-sqlite3 throws while opening into an error that names the file and the way out. */
function openError(path: string, err: unknown): SqliteEngineError {
  const code = (err as { code?: string }).code ?? '';
  const what = describe(path);
  const detail = (err as Error).message;
  if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_') || code === 'SQLITE_LOCKED') {
    return new SqliteEngineError(`${what} is locked by another process (${detail}): one Switchboard server per file; stop the other one or give this one another path`, 'locked', { cause: err });
  }
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || code.startsWith('SQLITE_CORRUPT_')) {
    return new SqliteEngineError(`${what} is not a usable SQLite database (${detail}): restore it from a backup, or move it away to start with empty history`, 'corrupt', { cause: err });
  }
  if (code === 'SQLITE_READONLY' || code.startsWith('SQLITE_READONLY_') || code === 'SQLITE_PERM') {
    return new SqliteEngineError(`${what} cannot be written (${detail}): check the file's and its directory's permissions`, 'read-only', { cause: err });
  }
  return new SqliteEngineError(`${what} cannot be opened (${detail})`, 'cannot-open', { cause: err });
}

/**
 * History in a SQLite file on this node's disk: streams (epoch, top) and publications survive a
 * restart, so clients recover across it. One process per file (the file is locked while open), so
 * it is the history of a single node; pair it with the memory broker (`createSwitchboard({ history })`).
 *
 * Appends are committed (in groups, see `append`) before their promise resolves, so before the
 * publication is delivered: a client is never sent an offset the file does not have.
 */
export class SqliteHistoryStore implements HistoryStore {
  readonly path: string;
  readonly #db: Database.Database;
  readonly #now: () => number;
  readonly #metaTtlMs: number;
  readonly #sweep: NodeJS.Timeout;
  readonly #q: {
    stream: Database.Statement<[string], StreamRow>;
    putStream: Database.Statement<[string, string, number, number]>;
    dropStream: Database.Statement<[string]>;
    dropPubs: Database.Statement<[string]>;
    insert: Database.Statement<[string, number, string, string | null, string | null, number | null, number]>;
    trim: Database.Statement<[string, number]>;
    after: Database.Statement<[string, number, number, number], PubRow>;
    before: Database.Statement<[string, number, number, number], PubRow>;
    sweepPubs: Database.Statement<[number]>;
    expiredStreams: Database.Statement<[number], { channel: string }>;
  };
  readonly #append: (channel: string, pub: Publication, options: HistoryOptions) => StreamPosition;
  readonly #remove: (channel: string) => void;
  readonly #appendGroup: (group: readonly PendingAppend[]) => StreamPosition[];
  #pending: PendingAppend[] = [];
  #closed = false;

  constructor(options: SqliteHistoryOptions) {
    this.path = options.path;
    this.#now = options.now ?? Date.now;
    this.#metaTtlMs = options.metaTtlMs ?? DEFAULT_META_TTL_MS;
    const path = options.path;
    if (path !== ':memory:') {
      const dir = dirname(resolve(path));
      if (!existsSync(dir) || !statSync(dir).isDirectory()) {
        throw new SqliteEngineError(`${describe(path)} cannot be created: its directory ${JSON.stringify(dir)} does not exist`, 'cannot-open');
      }
    }
    let db: Database.Database;
    try {
      db = new Database(path, { timeout: 0 });
    } catch (err) {
      throw openError(path, err);
    }
    try {
      // One process per file: the lock is taken by the first write below and kept until close, so
      // a second server on the same file fails at its start instead of sharing streams unknowingly.
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new SqliteEngineError(`${describe(path)} was written by a newer Switchboard (schema ${version}, this one knows ${SCHEMA_VERSION}): upgrade, or use another file`, 'newer-schema');
      }
      db.transaction(() => {
        db.exec(SCHEMA);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }).immediate();
      if (options.integrityCheck !== false) {
        const rows = db.pragma('quick_check') as { quick_check: string }[];
        if (rows.length !== 1 || rows[0]!.quick_check !== 'ok') {
          const problems = rows.slice(0, 3).map((r) => r.quick_check).join('; ');
          throw Object.assign(new Error(`quick_check: ${problems}`), { code: 'SQLITE_CORRUPT' });
        }
      }
    } catch (err) {
      db.close();
      throw err instanceof SqliteEngineError ? err : openError(path, err);
    }
    this.#db = db;
    this.#q = {
      stream: db.prepare<[string], StreamRow>('SELECT epoch, top, meta_expires_at FROM sb_streams WHERE channel = ?'),
      putStream: db.prepare<[string, string, number, number]>('INSERT INTO sb_streams (channel, epoch, top, meta_expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (channel) DO UPDATE SET epoch = excluded.epoch, top = excluded.top, meta_expires_at = excluded.meta_expires_at'),
      dropStream: db.prepare<[string]>('DELETE FROM sb_streams WHERE channel = ?'),
      dropPubs: db.prepare<[string]>('DELETE FROM sb_publications WHERE channel = ?'),
      insert: db.prepare<[string, number, string, string | null, string | null, number | null, number]>('INSERT INTO sb_publications (channel, seq, data, info, tags, time, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      trim: db.prepare<[string, number]>('DELETE FROM sb_publications WHERE channel = ? AND seq <= ?'),
      after: db.prepare<[string, number, number, number], PubRow>('SELECT seq, data, info, tags, time FROM sb_publications WHERE channel = ? AND seq > ? AND expires_at > ? ORDER BY seq LIMIT ?'),
      before: db.prepare<[string, number, number, number], PubRow>('SELECT seq, data, info, tags, time FROM sb_publications WHERE channel = ? AND seq < ? AND expires_at > ? ORDER BY seq DESC LIMIT ?'),
      sweepPubs: db.prepare<[number]>('DELETE FROM sb_publications WHERE (channel, seq) IN (SELECT channel, seq FROM sb_publications WHERE expires_at <= ? LIMIT 10000)'),
      expiredStreams: db.prepare<[number], { channel: string }>('SELECT channel FROM sb_streams WHERE meta_expires_at <= ? LIMIT 1000'),
    };
    const appendOne = (channel: string, pub: Publication, o: HistoryOptions): StreamPosition => {
      const now = this.#now();
      const s = this.#live(channel, now);
      const top = s.top + 1;
      this.#q.putStream.run(channel, s.epoch, top, now + (o.metaTtlMs ?? this.#metaTtlMs));
      const info = pub.info === undefined ? null : JSON.stringify(pub.info);
      const tags = pub.tags === undefined ? null : JSON.stringify(pub.tags);
      this.#q.insert.run(channel, top, pub.data, info, tags, pub.time ?? null, now + o.ttlMs);
      if (top > o.size) this.#q.trim.run(channel, top - o.size);
      return { offset: top, epoch: s.epoch };
    };
    this.#append = db.transaction(appendOne);
    this.#appendGroup = db.transaction((group: readonly PendingAppend[]) => group.map((a) => appendOne(a.channel, a.pub, a.options)));
    this.#remove = db.transaction((channel: string) => {
      this.#q.dropStream.run(channel);
      this.#q.dropPubs.run(channel);
    });
    this.#sweep = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 10_000);
    this.#sweep.unref();
  }

  /** The open database (the ack and state stores keep their tables in the same file); undefined once closed. */
  get database(): Database.Database | undefined {
    return this.#closed ? undefined : this.#db;
  }

  /** The store's clock (ms). */
  now(): number {
    return this.#now();
  }

  /** The stream of `channel`, created (new epoch, top 0) when unknown or its metadata expired. */
  #live(channel: string, now: number): StreamRow {
    const s = this.#q.stream.get(channel);
    if (s !== undefined && s.meta_expires_at > now) return s;
    if (s !== undefined) this.#q.dropPubs.run(channel);
    const fresh = { epoch: newEpoch(), top: 0, meta_expires_at: now + this.#metaTtlMs };
    this.#q.putStream.run(channel, fresh.epoch, fresh.top, fresh.meta_expires_at);
    return fresh;
  }

  #check(): void {
    if (this.#closed) throw new Error('the SQLite history store is closed');
  }

  /** Synchronous append: committed to the file when it returns. */
  appendSync(channel: string, pub: Publication, options: HistoryOptions): StreamPosition {
    this.#check();
    this.#flush();
    return this.#append(channel, pub, options);
  }

  /**
   * Appends made in the same turn of the event loop are committed together in one transaction
   * (group commit: one write, or one flush with `synchronous: 'full'`, for all of them), then
   * resolved in the order they were made. A failed commit rejects every append of the group.
   */
  append(channel: string, pub: Publication, options: HistoryOptions): Promise<StreamPosition> {
    if (this.#closed) return Promise.reject(new Error('the SQLite history store is closed'));
    return new Promise((resolve, reject) => {
      this.#pending.push({ channel, pub, options, resolve, reject });
      if (this.#pending.length === 1) setImmediate(this.#flush);
    });
  }

  readonly #flush = (): void => {
    const group = this.#pending;
    this.#pending = [];
    if (group.length === 0) return;
    let positions: StreamPosition[];
    try {
      if (this.#closed) throw new Error('the SQLite history store is closed');
      positions = this.#appendGroup(group);
    } catch (err) {
      for (const a of group) a.reject(err);
      return;
    }
    for (let i = 0; i < group.length; i++) group[i]!.resolve(positions[i]!);
  };

  async read(channel: string, options: HistoryReadOptions): Promise<HistoryReadResult> {
    this.#check();
    this.#flush(); // appends made before come first
    const now = this.#now();
    const s = this.#db.transaction(() => this.#live(channel, now)).immediate();
    const position = { offset: s.top, epoch: s.epoch };
    if (options.since !== undefined && options.since.epoch !== '' && options.since.epoch !== s.epoch) {
      throw new EpochMismatchError(position);
    }
    if (options.limit === 0) return { publications: [], position };
    const limit = options.limit < 0 ? -1 : options.limit;
    const rows = options.reverse
      ? this.#q.before.all(channel, options.since?.offset ?? Number.MAX_SAFE_INTEGER, now, limit)
      : this.#q.after.all(channel, options.since?.offset ?? 0, now, limit);
    const publications = rows.map((r) => {
      const p: { -readonly [K in keyof Publication]: Publication[K] } = { data: r.data, offset: r.seq, epoch: s.epoch };
      if (r.info !== null) p.info = JSON.parse(r.info) as Publication['info'];
      if (r.tags !== null) p.tags = JSON.parse(r.tags) as Publication['tags'];
      if (r.time !== null) p.time = r.time;
      return p;
    });
    return { publications, position };
  }

  async position(channel: string): Promise<StreamPosition> {
    this.#check();
    this.#flush(); // appends made before come first
    const now = this.#now();
    const s = this.#db.transaction(() => this.#live(channel, now)).immediate();
    return { offset: s.top, epoch: s.epoch };
  }

  async remove(channel: string): Promise<void> {
    this.#check();
    this.#flush(); // appends made before come first
    this.#remove(channel);
  }

  /** Deletes expired publications and streams whose metadata expired (runs on a timer too). */
  sweep(): void {
    if (this.#closed) return;
    const now = this.#now();
    try {
      this.#db.transaction(() => {
        this.#q.sweepPubs.run(now);
        for (const { channel } of this.#q.expiredStreams.all(now)) this.#remove(channel);
      }).immediate();
    } catch {
      // a failed sweep (disk full) is retried at the next tick; reads filter expired rows anyway
    }
  }

  /** Rows in the file: streams and publications (expired ones included until the sweep deletes them). */
  rows(): { streams: number; publications: number } {
    this.#check();
    const count = (table: string) => (this.#db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { streams: count('sb_streams'), publications: count('sb_publications') };
  }

  /** Whether the file is open and answers. */
  health(): boolean {
    if (this.#closed) return false;
    try {
      this.#db.prepare('SELECT 1').get();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    clearInterval(this.#sweep);
    this.#db.close();
  }
}
