import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '@switchboard/server/testing';
import pg from 'pg';
import { finish } from '../../../apps/server/src/config.js';
import { startNodes } from '../../redis/test/cluster.js';
import { SdkClient } from '../../redis/test/sdk.js';
import { dropSchema, PG_DSN, pgAvailable, testSchema } from './pg-env.js';

const base = { client: { token: { hmac_secret_key: 'k' } }, http_api: { key: 'k' } };

test('standalone config: engine.postgres and consumers of type postgresql', () => {
  const c = finish({ ...base, engine: { type: 'postgres', postgres: { dsn: 'postgres://x@h/db', pool_size: 4 } } }, {});
  assert.deepEqual(c.engine.postgres, { dsn: 'postgres://x@h/db', schema: 'switchboard', pool_size: 4, presence_ttl: 60_000 });
  // environment variables by the usual rule
  const e = finish({ ...base, engine: { type: 'postgres' } }, { SWITCHBOARD_ENGINE_POSTGRES_DSN: 'postgres://env@h/db', SWITCHBOARD_ENGINE_POSTGRES_SCHEMA: 'rt', SWITCHBOARD_ENGINE_POSTGRES_PRESENCE_TTL: '15s' });
  assert.equal(e.engine.postgres.dsn, 'postgres://env@h/db');
  assert.equal(e.engine.postgres.schema, 'rt');
  assert.equal(e.engine.postgres.presence_ttl, 15_000);
  assert.throws(() => finish({ ...base, engine: { type: 'postgres' } }, {}), /engine\.postgres\.dsn: required with engine.type "postgres"/);
  assert.throws(() => finish({ ...base, engine: { type: 'postgres', postgres: { dsn: 'mysql://h/db' } } }, {}), /engine\.postgres\.dsn: expected a postgres:\/\//);
  assert.throws(() => finish({ ...base, engine: { type: 'postgres', postgres: { dsn: 'postgres://h/db', schema: 'Bad-Name' } } }, {}), /engine\.postgres\.schema: "Bad-Name" is not a valid schema name/);
  const consumers = [{ name: 'outbox', enabled: true, type: 'postgresql', postgresql: { dsn: 'postgres://h/db', outbox_table_name: 'centrifugo_outbox', num_partitions: 4, partition_poll_interval: '1s' } }];
  const k = finish({ ...base, consumers }, {});
  assert.equal(k.consumers[0]!.postgresql.partition_poll_interval, 1000);
  assert.equal(k.consumers[0]!.postgresql.partition_select_limit, 100);
  const env = finish(base, { SWITCHBOARD_CONSUMERS: JSON.stringify(consumers) });
  assert.equal(env.consumers[0]!.postgresql.num_partitions, 4, 'SWITCHBOARD_CONSUMERS as JSON');
  assert.throws(() => finish({ ...base, consumers: [{ name: 'x', enabled: true, type: 'postgresql', postgresql: {} }] }, {}), /consumers\[0\]\.postgresql\.dsn: required/);
  assert.throws(() => finish({ ...base, consumers: [{ name: 'x', enabled: true, type: 'kafka' }] }, {}), /consumers\[0\]\.type: unknown consumer type "kafka"/);
  assert.throws(() => finish({ ...base, consumers: [...consumers, ...consumers] }, {}), /consumers\[1\]\.name: "outbox" is used by another consumer/);
});

test('standalone: two nodes consume one outbox; each row published once, in order per partition', { timeout: 300_000 }, async (t) => {
  if (!(await pgAvailable())) return t.skip(`no PostgreSQL at ${PG_DSN}`);
  const schema = testSchema('sa');
  const pool = new pg.Pool({ connectionString: PG_DSN, max: 3 });
  t.after(async () => {
    await pool.end();
    await dropSchema(schema);
  });
  const table = `${schema}_app.centrifugo_outbox`;
  await pool.query(`CREATE SCHEMA ${schema}_app`);
  t.after(() => dropSchema(`${schema}_app`));
  await pool.query(`CREATE TABLE ${table} (id BIGSERIAL PRIMARY KEY, method text NOT NULL, payload JSONB NOT NULL,
    partition INTEGER NOT NULL default 0, created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL)`);
  const consumers = [
    { name: 'outbox', enabled: true, type: 'postgresql', postgresql: { dsn: PG_DSN, outbox_table_name: table, num_partitions: 2, partition_select_limit: 5, partition_poll_interval: '50ms' } },
  ];
  const engine = { type: 'postgres', postgres: { dsn: PG_DSN, schema, pool_size: 3, presence_ttl: '5s' } };
  const [a, b] = await startNodes({ addresses: [], prefix: '', engine, extra: { consumers } }, ['A', 'B']);
  const clients: SdkClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await Promise.all([a!.stop(), b!.stop()]);
  });
  const health = await (await fetch(`http://127.0.0.1:${a!.port}/health`)).json();
  assert.deepEqual(health, { status: 'ok', database: 'up' });
  assert.equal((await fetch(`http://127.0.0.1:${a!.port}/ready`)).status, 200);
  const onA = await SdkClient.connect(a!.ws, 'reader-a');
  const onB = await SdkClient.connect(b!.ws, 'reader-b');
  clients.push(onA, onB);
  for (const c of [onA, onB]) {
    await c.subscribe('chat:outbox-0');
    await c.subscribe('chat:outbox-1');
  }
  // the app writes its rows in transactions: each row goes to the partition of its channel
  let seq = 0;
  for (let tx = 0; tx < 8; tx++) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      for (let k = 0; k < 5; k++) {
        const i = ++seq;
        const partition = i % 2;
        await client.query(`INSERT INTO ${table} (method, payload, partition) VALUES ('publish', $1, $2)`, [{ channel: `chat:outbox-${partition}`, data: { i } }, partition]);
      }
      await client.query(tx === 3 ? 'ROLLBACK' : 'COMMIT');
    } finally {
      client.release();
    }
  }
  const want = (p: number) => Array.from({ length: 40 }, (_, k) => k + 1).filter((i) => i % 2 === p && (i <= 15 || i > 20));
  for (const c of [onA, onB]) {
    for (const p of [0, 1]) {
      await waitFor(() => c.pubs(`chat:outbox-${p}`).length >= want(p).length, 15_000, `partition ${p}'s rows`);
    }
  }
  await waitFor(async () => (await pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n === 0, 10_000, 'the outbox to empty');
  // A sentinel row per partition, written after the outbox emptied: the partition's consumer
  // publishes in order, so anything published twice would reach the readers before it.
  const SENTINEL = 1000;
  for (const p of [0, 1]) await pool.query(`INSERT INTO ${table} (method, payload, partition) VALUES ('publish', $1, $2)`, [{ channel: `chat:outbox-${p}`, data: { i: SENTINEL + p } }, p]);
  for (const c of [onA, onB]) {
    for (const p of [0, 1]) {
      await waitFor(() => c.pubs(`chat:outbox-${p}`).some((x) => (x.data as { i: number }).i === SENTINEL + p), 15_000, `partition ${p}'s sentinel`);
    }
  }
  for (const c of [onA, onB]) {
    for (const p of [0, 1]) {
      const got = c.pubs(`chat:outbox-${p}`);
      assert.deepEqual(got.map((x) => (x.data as { i: number }).i), [...want(p), SENTINEL + p], `partition ${p}: once each, in order, the rolled-back transaction absent, then the sentinel`);
      assert.deepEqual(got.map((x) => x.offset), [...want(p), SENTINEL].map((_, k) => k + 1), 'one offset each: published once');
    }
  }
});
