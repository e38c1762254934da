import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@switchboard/server/testing';
import { createSwitchboard } from '@switchboard/server';
import pg from 'pg';
import { createOutboxConsumer, createPostgresEngine, type OutboxConsumer } from '../src/index.js';
import { dropSchema, PG_DSN, pgAvailable, testSchema } from './pg-env.js';

test('outbox consumer (Centrifugo layout): once each, in order per partition, two nodes', async (t) => {
  if (!(await pgAvailable())) return t.skip(`no PostgreSQL at ${PG_DSN}`);
  const schema = testSchema('outbox');
  const pool = new pg.Pool({ connectionString: PG_DSN, max: 4 });
  const consumers: OutboxConsumer[] = [];
  t.after(async () => {
    await Promise.all(consumers.map((c) => c.close()));
    await pool.end();
    await dropSchema(schema);
  });
  const table = `${schema}.centrifugo_outbox`;
  const channel = `${schema}_partition_change`;
  // Centrifugo's documented table and its notification trigger, as the app already has them
  await pool.query(`CREATE SCHEMA ${schema}`);
  await pool.query(`CREATE TABLE ${table} (
    id BIGSERIAL PRIMARY KEY, method text NOT NULL, payload JSONB NOT NULL,
    partition INTEGER NOT NULL default 0, created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL)`);
  await pool.query(`CREATE FUNCTION ${schema}.notify_partition() RETURNS TRIGGER AS $$
    BEGIN PERFORM pg_notify('${channel}', NEW.partition::text); RETURN NEW; END; $$ LANGUAGE plpgsql`);
  await pool.query(`CREATE TRIGGER notify_partition AFTER INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${schema}.notify_partition()`);

  const seen: { node: string; partition: number; seq: number; method: string }[] = [];
  let failOnce: number | undefined;
  const start = async (node: string) => {
    const c = createOutboxConsumer({
      name: 'outbox-test',
      dsn: PG_DSN,
      table,
      numPartitions: 4,
      selectLimit: 7,
      pollIntervalMs: 5000, // long: rows are picked up by the NOTIFY wake-up, or when another node lets go
      notificationChannel: channel,
      execute: async (method, payload) => {
        const p = payload as { partition: number; seq: number; bad?: boolean };
        if (p.bad) throw Object.assign(new Error('unknown channel'), { permanent: true });
        if (p.seq === failOnce) {
          failOnce = undefined;
          throw new Error('temporary failure');
        }
        await new Promise((r) => setTimeout(r, Math.random() * 3));
        seen.push({ node, partition: p.partition, seq: p.seq, method });
      },
    });
    await c.start();
    consumers.push(c);
    return c;
  };
  const a = await start('A');
  const b = await start('B');

  // rows written in transactions, several partitions each, as an app would
  let seq = 0;
  const txOf = new Map<number, number>();
  let txs = 0;
  const write = async (n: number) => {
    const tx = txs++;
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      for (let i = 0; i < n; i++) {
        const partition = seq % 4;
        const row = { channel: `chat:${partition}`, partition, seq: seq++ };
        txOf.set(row.seq, tx);
        await client.query(`INSERT INTO ${table} (method, payload, partition) VALUES ('publish', $1, $2)`, [row, partition]);
      }
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  };
  failOnce = 9;
  await Promise.all(Array.from({ length: 12 }, () => write(10))); // 12 concurrent transactions
  const concurrent = seq;
  // a rolled-back transaction's rows never run
  const client = await pool.connect();
  await client.query('BEGIN');
  await client.query(`INSERT INTO ${table} (method, payload, partition) VALUES ('publish', '{"seq": -1, "partition": 0}', 0)`);
  await client.query('ROLLBACK');
  client.release();
  // a row that can never succeed is skipped, and does not block its partition
  await pool.query(`INSERT INTO ${table} (method, payload, partition) VALUES ('publish', '{"bad": true, "seq": -2, "partition": 1}', 1)`);
  await write(4); // then transactions one after the other
  await write(4);

  await waitFor(() => seen.length === 128, 20_000, 'every row to run');
  await waitFor(async () => (await pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n === 0, 10_000, 'the table to empty');
  const seqs = seen.map((s) => s.seq).sort((x, y) => x - y);
  assert.deepEqual(seqs, Array.from({ length: 128 }, (_, i) => i), 'each row exactly once');
  // per partition: the rows of one transaction in insert order, and transactions committed one
  // after the other in that order (concurrent ones in the order they became visible)
  for (let partition = 0; partition < 4; partition++) {
    const ran = seen.filter((s) => s.partition === partition).map((s) => s.seq);
    for (let tx = 0; tx < txs; tx++) {
      const mine = ran.filter((q) => txOf.get(q) === tx);
      assert.deepEqual(mine, [...mine].sort((x, y) => x - y), `partition ${partition}: transaction ${tx} in insert order`);
    }
    const late = ran.filter((q) => q >= concurrent);
    assert.deepEqual(ran.slice(ran.length - late.length), late, `partition ${partition}: later transactions after earlier ones`);
    assert.deepEqual(late, [...late].sort((x, y) => x - y), `partition ${partition}: sequential transactions in order`);
  }
  assert.ok(seen.every((s) => s.method === 'publish'));
  assert.equal(a.stats.skipped + b.stats.skipped, 1, 'the bad row was skipped once');
  assert.ok(a.stats.errors + b.stats.errors >= 2, 'the temporary failure and the bad row were reported');
  assert.ok(a.stats.processed > 0 && b.stats.processed > 0, `both nodes took partitions (A ${a.stats.processed}, B ${b.stats.processed})`);
});

test('outbox consumer: bad options and a missing table are clear errors', async (t) => {
  if (!(await pgAvailable())) return t.skip(`no PostgreSQL at ${PG_DSN}`);
  const base = { name: 'x', dsn: PG_DSN, table: 'nope_outbox', execute: async () => undefined };
  assert.throws(() => createOutboxConsumer({ ...base, table: 'drop table; x' }), /outbox_table_name/);
  assert.throws(() => createOutboxConsumer({ ...base, numPartitions: 0 }), /num_partitions/);
  assert.throws(() => createOutboxConsumer({ ...base, dsn: 'mysql://x' }), /dsn/);
  await assert.rejects(createOutboxConsumer({ ...base, table: `missing_${Date.now()}` }).start(), /outbox table missing_\d+ does not exist/);
});

test('outbox: a node SIGKILLed after applying a row, before its commit, leaves the row to another node, which publishes nothing twice (one offset)', async (t) => {
  if (!(await pgAvailable())) return t.skip(`no PostgreSQL at ${PG_DSN}`);
  const schema = testSchema('outbox_crash');
  const pool = new pg.Pool({ connectionString: PG_DSN, max: 2 });
  const table = `${schema}.centrifugo_outbox`;
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  await pool.query(`CREATE TABLE ${table} (
    id BIGSERIAL PRIMARY KEY, method text NOT NULL, payload JSONB NOT NULL,
    partition INTEGER NOT NULL default 0, created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL)`);
  const env = { ...process.env, OX_DSN: PG_DSN, OX_SCHEMA: schema, OX_TABLE: table, OX_HANG_SEQ: '2' };
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(new URL('./outbox-node.ts', import.meta.url))], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const e = createPostgresEngine({ dsn: PG_DSN, schema, poolSize: 2 });
  const b = createSwitchboard({ broker: e.broker, history: e.history, presence: e.presence, name: 'B', namespaces: { chat: { historySize: 100, historyTtlMs: 60_000 } } });
  let consumer: OutboxConsumer | undefined;
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await consumer?.close();
    await b.shutdown({ timeoutMs: 500 });
    await pool.end();
    await dropSchema(schema);
  });
  await waitFor(() => out.includes('"started":true') || child.exitCode !== null, 90_000, 'the child node to start');
  assert.ok(out.includes('"started":true'), `the child node started: ${out}`);
  // one statement, so that the child's first batch holds all five rows (row by row, it could commit
  // a batch of row 0 alone before the others were visible)
  await pool.query(
    `INSERT INTO ${table} (method, payload) SELECT 'publish', jsonb_build_object('channel', 'chat:outbox', 'data', jsonb_build_object('seq', s)) FROM generate_series(0, 4) AS s ORDER BY s`,
  );
  await waitFor(() => out.includes('{"hung":2}'), 30_000, 'the child to apply row 2 and stop before its commit');
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  assert.deepEqual(
    [...out.matchAll(/\{"ran":(\d+)\}/g)].map((m) => Number(m[1])),
    [0, 1, 2],
    'the child applied rows 0, 1, 2 in one transaction that never committed',
  );

  const ran: number[] = [];
  consumer = createOutboxConsumer({
    name: 'crash-test',
    dsn: PG_DSN,
    table,
    pollIntervalMs: 100,
    execute: async (_method, payload) => {
      const p = payload as { channel: string; data: { seq: number }; idempotency_key: string };
      await b.publish(p.channel, p.data, { idempotencyKey: p.idempotency_key });
      ran.push(p.data.seq);
    },
  });
  await consumer.start();
  await waitFor(async () => (await pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n === 0, 30_000, 'B to run the rows and empty the table');
  assert.deepEqual(ran, [0, 1, 2, 3, 4], 'B ran every row again, in order (the killed transaction deleted nothing)');
  const h = await b.history('chat:outbox', { limit: -1 });
  assert.deepEqual(
    h.publications.map((p) => (JSON.parse(p.data) as { seq: number }).seq),
    [0, 1, 2, 3, 4],
    'each row published once',
  );
  assert.deepEqual(
    h.publications.map((p) => p.offset),
    [1, 2, 3, 4, 5],
    'one offset per row',
  );
});
