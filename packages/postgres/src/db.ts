import postgres from 'postgres';
import { MIGRATIONS, migrationSql } from './migrations.js';

export const DEFAULT_SCHEMA = 'switchboard';
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export type Sql = postgres.Sql;

export interface PostgresConnectionOptions {
  /** `postgres://user:pass@host:5432/db` (and the usual libpq URL options such as `sslmode`). */
  readonly dsn: string;
  /** Schema holding Switchboard's tables and functions (default "switchboard"); also the LISTEN channel. */
  readonly schema?: string;
  /** Connections in the pool, besides the one LISTEN connection (default 10). */
  readonly poolSize?: number;
  /** Seconds to wait for a connection before a statement fails (default 5). */
  readonly connectTimeoutS?: number;
}

/** A bad option or a database Switchboard cannot use, said plainly. */
export class PostgresEngineError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PostgresEngineError';
  }
}

/** SQLSTATEs meaning an object Switchboard created is gone: the schema needs repair. */
const MISSING = new Set(['42P01', '42883', '3F000', '42703']);

export function isMissingObject(err: unknown): boolean {
  return typeof err === 'object' && err !== null && MISSING.has(String((err as { code?: unknown }).code));
}

export function checkSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) throw new PostgresEngineError(`schema: "${schema}" is not a valid schema name (lower-case letters, digits and _, at most 63, not starting with a digit)`);
  return schema;
}

/** Where the DSN points, without its password, for error messages. */
export function describeDsn(dsn: string): string {
  try {
    const u = new URL(dsn);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return '(unparsable DSN)';
  }
}

/**
 * One pool per engine, shared by broker, history and presence (reference counted like the Redis
 * shards), plus the schema: created and migrated on first use, repaired when objects go missing.
 */
export class Database {
  readonly sql: Sql;
  readonly schema: string;
  /** The schema name quoted for SQL text. */
  readonly s: string;
  readonly dsn: string;
  #refs = 0;
  #migrated: Promise<void> | undefined;
  #repairing: Promise<void> | undefined;
  #closed = false;
  /** Last error a statement met (for readiness and logs); cleared by a successful health check. */
  lastError: Error | undefined;

  constructor(options: PostgresConnectionOptions) {
    if (typeof options.dsn !== 'string' || options.dsn === '') throw new PostgresEngineError('dsn: required, e.g. "postgres://user:password@127.0.0.1:5432/db"');
    if (!/^postgres(ql)?:\/\//.test(options.dsn)) throw new PostgresEngineError(`dsn: expected a postgres:// or postgresql:// URL, got "${options.dsn.slice(0, 40)}"`);
    try {
      new URL(options.dsn);
    } catch {
      throw new PostgresEngineError('dsn: not a valid URL');
    }
    this.schema = checkSchemaName(options.schema ?? DEFAULT_SCHEMA);
    this.s = `"${this.schema}"`;
    this.dsn = options.dsn;
    const max = options.poolSize ?? 10;
    if (!Number.isInteger(max) || max < 1) throw new PostgresEngineError(`pool_size: expected a positive integer, got ${String(options.poolSize)}`);
    this.sql = postgres(options.dsn, {
      max,
      connect_timeout: options.connectTimeoutS ?? 5,
      idle_timeout: 60,
      onnotice: () => {},
      connection: { application_name: 'switchboard' },
    });
  }

  acquire(): this {
    this.#refs++;
    return this;
  }

  async release(): Promise<void> {
    if (--this.#refs > 0 || this.#closed) return;
    this.#closed = true;
    await this.sql.end({ timeout: 1 });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Creates or migrates the schema once; concurrent nodes serialise on an advisory lock. */
  ready(): Promise<void> {
    this.#migrated ??= this.#migrate(false).catch((err: unknown) => {
      this.#migrated = undefined; // the next call tries again (the database may come back)
      throw this.#explain(err);
    });
    return this.#migrated;
  }

  /** Applies every migration again (they are idempotent): objects dropped under a running node come back. */
  repair(): Promise<void> {
    this.#repairing ??= this.#migrate(true).finally(() => (this.#repairing = undefined));
    return this.#repairing;
  }

  async #migrate(all: boolean): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(hashtext(${'switchboard-migrate:' + this.schema}))`;
      await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${this.s}`);
      await tx.unsafe(`CREATE TABLE IF NOT EXISTS ${this.s}.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      const rows = await tx.unsafe<{ v: number | null }[]>(`SELECT max(version) AS v FROM ${this.s}.migrations`);
      const current = rows[0]?.v ?? 0;
      const known = MIGRATIONS[MIGRATIONS.length - 1]!.version;
      if (current > known) throw new PostgresEngineError(`schema "${this.schema}" is at version ${current}, newer than this build knows (${known}): upgrade Switchboard or use another schema`);
      for (const m of MIGRATIONS) {
        if (m.version <= current && !all) continue;
        await tx.unsafe(migrationSql(m, this.s, this.schema));
        await tx.unsafe(`INSERT INTO ${this.s}.migrations (version, name) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING`, [m.version, m.name]);
      }
    });
  }

  #explain(err: unknown): Error {
    if (err instanceof PostgresEngineError) return err;
    const e = err as { code?: string; message?: string };
    const where = describeDsn(this.dsn);
    if (e.code === 'ECONNREFUSED') return new PostgresEngineError(`PostgreSQL refused the connection at ${where}: is it running?`, { cause: err });
    if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') return new PostgresEngineError(`PostgreSQL host not found for ${where}`, { cause: err });
    if (e.code === 'CONNECT_TIMEOUT') return new PostgresEngineError(`PostgreSQL at ${where} did not answer in time`, { cause: err });
    if (e.code === '3D000') return new PostgresEngineError(`database does not exist at ${where}: ${e.message}`, { cause: err });
    if (e.code === '28P01' || e.code === '28000') return new PostgresEngineError(`PostgreSQL at ${where} rejected the credentials: ${e.message}`, { cause: err });
    if (e.code === '57P03') return new PostgresEngineError(`PostgreSQL at ${where} is starting up or shutting down: ${e.message}`, { cause: err });
    return new PostgresEngineError(`PostgreSQL at ${where}: ${e.message ?? String(err)}`, { cause: err });
  }

  /**
   * Runs `fn` once the schema is there. When it fails because an object is gone (a dropped table
   * or function), repairs the schema and fails this once: the caller sees the error, the next call works.
   */
  async run<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    await this.ready();
    try {
      return await fn(this.sql);
    } catch (err) {
      this.lastError = err as Error;
      if (isMissingObject(err)) void this.repair().catch(() => {});
      throw err;
    }
  }

  /** Whether the database answers and every object is in place (a statement touching each). */
  async health(timeoutMs = 2000): Promise<boolean> {
    if (this.#closed) return false;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        (async () => {
          await this.ready();
          await this.sql.unsafe(
            `SELECT (SELECT count(*) FROM (SELECT 1 FROM ${this.s}.channels LIMIT 1) a) + (SELECT count(*) FROM (SELECT 1 FROM ${this.s}.history LIMIT 1) b)
              + (SELECT count(*) FROM (SELECT 1 FROM ${this.s}.presence LIMIT 1) c) + (SELECT count(*) FROM (SELECT 1 FROM ${this.s}.messages LIMIT 1) d),
              to_regprocedure(${quoteLiteral(`${this.s}._append(text,text,text,text,bigint,integer,bigint,bigint,boolean,text)`)}) IS NOT NULL AS fn`,
          ).then((r) => {
            if (!r[0]?.['fn']) throw Object.assign(new Error('function _append is missing'), { code: '42883' });
          });
        })(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('health check timed out')), timeoutMs))),
      ]);
      this.lastError = undefined;
      return true;
    } catch (err) {
      this.lastError = err as Error;
      if (isMissingObject(err)) void this.repair().catch(() => {});
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
}

export function quoteLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/**
 * A store's hold on a shared Database, taken on first use and given back once on close: a store a
 * node never uses (an engine's state or ack store not passed to createSwitchboard) keeps no pool
 * open after the node shut down.
 */
export class DatabaseHold {
  #taken = false;
  #closed = false;

  constructor(
    readonly db: Database,
    readonly what: string,
  ) {}

  use(): Database {
    if (this.#closed) throw new Error(`the PostgreSQL ${this.what} is closed`);
    if (!this.#taken) {
      this.db.acquire();
      this.#taken = true;
    }
    return this.db;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#taken) await this.db.release();
  }
}
