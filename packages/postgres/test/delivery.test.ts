import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Recorder, uniqueChannel, waitFor } from '@switchboard/server/testing';
import postgres from 'postgres';
import { Database, MIGRATIONS, PostgresBroker, PostgresHistoryStore } from '../src/index.js';
import { dropSchema, PG_DSN, pgAvailable, testSchema } from './pg-env.js';

const HISTORY = { size: 100, ttlMs: 60_000 };

async function nodes(schema: string, n: number) {
  const out: { broker: PostgresBroker; rec: Recorder }[] = [];
  for (let i = 0; i < n; i++) {
    const broker = new PostgresBroker({ db: new Database({ dsn: PG_DSN, schema, poolSize: 2 }), janitorIntervalMs: 500 });
    const rec = new Recorder();
    await broker.start(rec);
    out.push({ broker, rec });
  }
  return out;
}

test('PostgreSQL delivery: nothing is lost when a notification is', async (t) => {
  if (!(await pgAvailable())) return t.skip(`no PostgreSQL at ${PG_DSN}`);
  const schema = testSchema('deliv');
  const admin = postgres(PG_DSN, { max: 1, onnotice: () => {} });
  const made: PostgresBroker[] = [];
  t.after(async () => {
    await Promise.all(made.map((b) => b.close()));
    await admin.end({ timeout: 1 });
    await dropSchema(schema);
  });

  await t.test('two nodes creating the schema at once: one migration each, both start', async () => {
    const dbs = [0, 1, 2].map(() => new Database({ dsn: PG_DSN, schema, poolSize: 1 }));
    await Promise.all(dbs.map((d) => d.ready()));
    const rows = await admin.unsafe(`SELECT version FROM "${schema}".migrations ORDER BY version`);
    assert.deepEqual(
      rows.map((r) => r['version']),
      MIGRATIONS.map((m) => m.version),
    );
    await Promise.all(dbs.map((d) => d.acquire().release()));
  });

  const [a, b] = await nodes(schema, 2);
  made.push(a!.broker, b!.broker);

  await t.test('messages over the NOTIFY payload limit travel through the messages table, in order', async () => {
    const ch = uniqueChannel('big');
    await a!.broker.subscribe(ch);
    const big = 'x'.repeat(20_000);
    await b!.broker.publishJoin(ch, { user: 'u', client: 'c', connInfo: JSON.stringify({ big }) });
    await b!.broker.publish(ch, { data: JSON.stringify({ n: 1, big }) });
    await b!.broker.publish(ch, { data: JSON.stringify({ n: 2, big }), delivery: { toUsers: Array.from({ length: 1000 }, (_, i) => `user-${i}`) } }, { history: HISTORY });
    await b!.broker.publishControl(JSON.stringify({ op: 'big', big }));
    await waitFor(() => a!.rec.pubs(ch).length === 2 && a!.rec.controls().some((c) => c.includes('"big"')), 5000, 'the large messages');
    const evs = a!.rec.events.filter((e) => 'channel' in e && e.channel === ch).map((e) => e.kind);
    assert.deepEqual(evs, ['join', 'pub', 'pub']);
    assert.deepEqual(a!.rec.data(ch).map((d) => (d as { n: number }).n), [1, 2]);
    assert.equal(a!.rec.pubs(ch)[1]!.offset, 1);
    assert.equal(a!.rec.pubs(ch)[1]!.delivery?.toUsers?.length, 1000);
  });

  await t.test('a publication whose notification never came is read from the rows at the next one, in order', async () => {
    const ch = uniqueChannel('gap');
    await a!.broker.subscribe(ch);
    await b!.broker.publish(ch, { data: '{"n":1}' }, { history: HISTORY });
    await waitFor(() => a!.rec.pubs(ch).length === 1, 5000, 'the first publication');
    const read = a!.broker.rowsRead;
    // appended without a notification: as if its NOTIFY had been lost
    const silent = new PostgresHistoryStore({ dsn: PG_DSN, schema, poolSize: 1 });
    try {
      await silent.append(ch, { data: '{"n":2}' }, HISTORY);
      await silent.append(ch, { data: '{"n":3}' }, HISTORY);
    } finally {
      await silent.close();
    }
    await b!.broker.publish(ch, { data: '{"n":4}' }, { history: HISTORY });
    await waitFor(() => a!.rec.pubs(ch).length === 4, 5000, 'all four');
    assert.deepEqual(a!.rec.data(ch), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    assert.deepEqual(a!.rec.pubs(ch).map((p) => p.offset), [1, 2, 3, 4]);
    assert.ok(a!.broker.rowsRead >= read + 3, 'the missing ones came from the table');
  });

  await t.test('a dropped LISTEN connection: the node reads what was committed meanwhile, in order, once, and is told', async () => {
    const ch = uniqueChannel('drop');
    await a!.broker.subscribe(ch);
    await b!.broker.publish(ch, { data: '{"n":0}' }, { history: HISTORY });
    await waitFor(() => a!.rec.pubs(ch).length === 1, 5000, 'the first publication');
    const before = a!.broker.reconnects;
    const reconnectsSeen = a!.rec.reconnects;
    // kill every listener of this schema (both nodes'): publications go on from b's pool meanwhile
    await admin.unsafe(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'switchboard-listen' AND query = $1`, [`LISTEN "${schema}"`]);
    const pending = [];
    for (let i = 1; i <= 20; i++) pending.push(b!.broker.publish(ch, { data: JSON.stringify({ n: i }) }, { history: HISTORY }));
    await Promise.all(pending);
    await waitFor(() => a!.broker.reconnects > before, 10_000, 'the listener to reconnect');
    await waitFor(() => a!.rec.pubs(ch).length >= 21, 10_000, 'every publication');
    // one more publication marks the end: a duplicate of an earlier one would arrive before it
    await b!.broker.publish(ch, { data: '{"n":21}' }, { history: HISTORY });
    await waitFor(() => a!.rec.pubs(ch).some((p) => p.offset === 22), 10_000, 'the last publication');
    assert.deepEqual(
      a!.rec.pubs(ch).map((p) => p.offset),
      Array.from({ length: 22 }, (_, i) => i + 1),
      'every offset once, in order',
    );
    assert.ok(a!.rec.reconnects > reconnectsSeen, 'the node was told (it checks positions, nothing to resync here)');
    const positions = new PostgresHistoryStore({ dsn: PG_DSN, schema, poolSize: 1 });
    try {
      assert.equal((await positions.position(ch)).offset, 22);
    } finally {
      await positions.close();
    }
  });

  await t.test('the node registry lists live nodes and forgets closed ones', async () => {
    const rows = async () => (await admin.unsafe(`SELECT id FROM "${schema}".nodes WHERE expires_at > now()`)).map((r) => r['id'] as string).sort();
    await waitFor(async () => (await rows()).length === 2, 5000, 'both nodes registered');
    assert.deepEqual(await rows(), [a!.broker.nodeId, b!.broker.nodeId].sort());
    await b!.broker.close();
    assert.deepEqual(await rows(), [a!.broker.nodeId]);
  });
});
