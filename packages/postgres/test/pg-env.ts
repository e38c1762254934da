import { randomUUID } from 'node:crypto';
import type { TestContext } from 'node:test';
import postgres from 'postgres';
import { createSwitchboard, type Switchboard, type SwitchboardOptions } from '@switchboard/server';
import { createPostgresEngine } from '../src/index.js';

export const PG_DSN = process.env['SWITCHBOARD_TEST_POSTGRES'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A schema name no other test run uses. */
export function testSchema(tag = 't'): string {
  return `sbtest_${tag}_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
}

/**
 * Whether the test PostgreSQL answers. Under CI a missing PostgreSQL is a failure (the suite must
 * not pass by skipping); elsewhere the caller skips with a message.
 */
export async function pgAvailable(dsn = PG_DSN): Promise<boolean> {
  const sql = postgres(dsn, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`SELECT 1`;
    return true;
  } catch {
    if (process.env['CI'] === 'true') throw new Error(`PostgreSQL is required under CI and is not reachable at ${dsn}`);
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Drops a test schema and everything in it. */
export async function dropSchema(schema: string, dsn = PG_DSN): Promise<void> {
  const sql = postgres(dsn, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } catch {
    // the database is gone (a test that stopped it): nothing to clean
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/**
 * Two Switchboard nodes, A and B, on one fresh schema, each with its own engine (as in separate
 * processes); shut down and the schema dropped after the test.
 */
export function twoNodes(t: TestContext, tag: string, namespaces: SwitchboardOptions['namespaces']): [Switchboard, Switchboard] {
  const schema = testSchema(tag);
  const node = (name: string) => {
    const e = createPostgresEngine({ dsn: PG_DSN, schema, poolSize: 2 });
    return createSwitchboard({ broker: e.broker, history: e.history, presence: e.presence, name, namespaces });
  };
  const a = node('A');
  const b = node('B');
  t.after(async () => {
    await a.shutdown({ timeoutMs: 500 });
    await b.shutdown({ timeoutMs: 500 });
    await dropSchema(schema);
  });
  return [a, b];
}
