import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Recorder, uniqueChannel, waitFor } from '@switchboard/server/testing';
import pg from 'pg';
import { createPostgresEngine } from '../src/index.js';
import { dropSchema, PG_DSN, pgAvailable, testSchema } from './pg-env.js';

test('transactional publish: <schema>.publish inside the app transaction', async (t) => {
  if (!(await pgAvailable())) return t.skip(`no PostgreSQL at ${PG_DSN}`);
  const schema = testSchema('tx');
  const engine = createPostgresEngine({ dsn: PG_DSN, schema, poolSize: 2 });
  const rec = new Recorder();
  await engine.broker.start(rec);
  // the app's own pool, with the app's own driver
  const pool = new pg.Pool({ connectionString: PG_DSN, max: 12 });
  t.after(async () => {
    await pool.end();
    await Promise.all([engine.broker.close(), engine.history.close(), engine.presence.close()]);
    await dropSchema(schema);
  });
  const subscribe = async (ch: string) => {
    await engine.broker.subscribe(ch);
    // a marker published after subscribe: once it arrives, the subscription is in place
    await engine.broker.publish(ch, { data: '{"marker":true}' });
    await waitFor(() => rec.pubs(ch).length === 1, 5000, 'the marker');
  };
  const data = (ch: string) => rec.data(ch).slice(1);

  await t.test('the README example: a committed transaction publishes, with history from the arguments', async () => {
    const ch = uniqueChannel('orders');
    await subscribe(ch);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT 1'); // the app's own writes go here
      const r = await client.query(`SELECT * FROM ${schema}.publish($1, $2, history_size => 100, history_ttl => '5 minutes')`, [ch, { status: 'paid' }]);
      assert.equal(r.rows[0].offset, '1');
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await waitFor(() => data(ch).length === 1, 5000, 'the committed publication');
    assert.deepEqual(data(ch), [{ status: 'paid' }]);
    assert.equal(rec.pubs(ch)[1]!.offset, 1);
    assert.ok(rec.pubs(ch)[1]!.time! > Date.now() - 60_000, 'stamped with the time of publish');
    assert.deepEqual((await engine.history.read(ch, { limit: -1 })).publications.map((p) => JSON.parse(p.data)), [{ status: 'paid' }]);
  });

  await t.test('a rolled-back transaction never publishes and leaves no gap', async () => {
    const ch = uniqueChannel('rb');
    await subscribe(ch);
    for (const commit of [false, true, false, true]) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`SELECT ${schema}.publish($1, $2, 10, '1 minute')`, [ch, { commit }]);
        await client.query(`SELECT ${schema}.publish($1, $2)`, [ch, { commit, history: false }]); // no history: NOTIFY is transactional too
        await client.query(commit ? 'COMMIT' : 'ROLLBACK');
      } finally {
        client.release();
      }
    }
    // a later publication through the engine: once it has arrived, anything before it has too
    await engine.broker.publish(ch, { data: '{"last":true}' }, { history: { size: 10, ttlMs: 60_000 } });
    await waitFor(() => data(ch).some((d) => (d as { last?: boolean }).last === true), 5000, 'the last publication');
    assert.deepEqual(data(ch), [{ commit: true }, { commit: true, history: false }, { commit: true }, { commit: true, history: false }, { last: true }]);
    assert.deepEqual(
      rec.pubs(ch).filter((p) => p.offset).map((p) => p.offset),
      [1, 2, 3],
      'rolled-back offsets are not used: no gap',
    );
  });

  await t.test('concurrent transactions arrive in commit order, gapless, per channel', async () => {
    const ch = uniqueChannel('conc');
    const other = uniqueChannel('conc');
    await subscribe(ch);
    await subscribe(other);
    const committed: number[] = [];
    const run = async (i: number) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`SELECT ${schema}.publish($1, $2, 1000, '5 minutes')`, [i % 3 === 0 ? other : ch, { i }]);
        await new Promise((r) => setTimeout(r, Math.random() * 30)); // the transaction goes on after publishing
        await client.query('COMMIT');
        committed.push(i);
      } finally {
        client.release();
      }
    };
    await Promise.all(Array.from({ length: 30 }, (_, i) => run(i)));
    await waitFor(() => data(ch).length === 20 && data(other).length === 10, 10_000, 'every publication');
    const got = data(ch).map((d) => (d as { i: number }).i);
    assert.deepEqual(
      got,
      committed.filter((i) => i % 3 !== 0),
      'delivered in the order the commits returned',
    );
    assert.deepEqual(
      rec.pubs(ch).slice(1).map((p) => p.offset),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      data(other).map((d) => (d as { i: number }).i),
      committed.filter((i) => i % 3 === 0),
    );
  });

  await t.test('history per namespace from the server configuration; bad arguments are clear errors', async () => {
    await engine.setHistoryOptions({ orders: { size: 2, ttlMs: 60_000 } });
    const ch = `orders:${uniqueChannel('ns')}`;
    for (let i = 1; i <= 3; i++) await pool.query(`SELECT ${schema}.publish($1, $2)`, [ch, { i }]);
    const h = await engine.history.read(ch, { limit: -1 });
    assert.deepEqual(h.publications.map((p) => p.offset), [2, 3], 'trimmed to the namespace size');
    await assert.rejects(pool.query(`SELECT ${schema}.publish($1, $2)`, ['bad channel', { x: 1 }]), /invalid channel name/);
    await assert.rejects(pool.query(`SELECT ${schema}.publish($1, NULL)`, ['chat:x']), /data must be a JSON value/);
    await assert.rejects(pool.query(`SELECT ${schema}.publish($1, $2, 5)`, ['chat:x', { x: 1 }]), /history_ttl must be positive/);
  });
});
