import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '@switchboard/server/testing';
import postgres from 'postgres';
import { freePort, NodeProcess } from '../../redis/test/cluster.js';
import { SdkClient } from '../../redis/test/sdk.js';
import { PgProcess } from './pg-process.js';
import { dropSchema, PG_DSN, pgAvailable, testSchema } from './pg-env.js';

const engineFor = (dsn: string, schema: string) => ({ type: 'postgres', postgres: { dsn, schema, pool_size: 3, presence_ttl: '5s' } });
const status = async (n: NodeProcess, path: string) => {
  const res = await fetch(`http://127.0.0.1:${n.port}${path}`);
  return { code: res.status, body: (await res.json()) as Record<string, unknown> };
};

test('bad input: wrong DSN, a database that refuses, a table dropped under a running node', { timeout: 600_000 }, async (t) => {
  if (!(await pgAvailable())) return t.skip(`no PostgreSQL at ${PG_DSN}`);

  await t.test('a DSN nobody answers, or a database that does not exist: the node does not start, and says why', async () => {
    const port = await freePort();
    const refused = new NodeProcess({ addresses: [], prefix: '', name: 'R', engine: engineFor(`postgres://postgres@127.0.0.1:${port}/test`, 'x') });
    await assert.rejects(refused.ready(), (err: Error) => {
      assert.match(err.message, new RegExp(`PostgreSQL refused the connection at 127\\.0\\.0\\.1:${port}/test: is it running\\?`));
      assert.match(err.message, /is PostgreSQL reachable at engine\.postgres\.dsn/);
      return true;
    });
    const nodb = new NodeProcess({ addresses: [], prefix: '', name: 'D', engine: engineFor(PG_DSN.replace(/\/[^/]*$/, '/no_such_db_sb'), 'x') });
    await assert.rejects(nodb.ready(), /database does not exist at 127\.0\.0\.1:5432\/no_such_db_sb/);
  });

  await t.test('the database goes away: /ready false, publishes fail loudly; it comes back: ready, publishing again', async (t) => {
    if (!PgProcess.available()) return t.skip('no pg_ctl here');
    const pg = await PgProcess.create();
    t.after(() => pg.destroy());
    const n = await new NodeProcess({ addresses: [], prefix: '', name: 'N', engine: engineFor(pg.dsn, 'away') }).ready();
    t.after(() => n.stop());
    assert.equal((await status(n, '/ready')).code, 200);
    await n.api('publish', { channel: 'chat:away', data: { i: 1 } });
    await pg.stop();
    await waitFor(async () => (await status(n, '/ready')).code === 503, 10_000, '/ready to say no');
    assert.deepEqual((await status(n, '/ready')).body, { status: 'engine not ready' });
    assert.deepEqual((await status(n, '/health')).body, { status: 'ok', database: 'down' });
    await assert.rejects(n.api('publish', { channel: 'chat:away', data: { i: 2 } }), /publish: 100 internal server error/);
    await pg.start();
    await waitFor(async () => (await status(n, '/ready')).code === 200, 20_000, '/ready again');
    await waitFor(async () => n.api('publish', { channel: 'chat:away', data: { i: 3 } }).then(() => true, () => false), 10_000, 'publishing again');
    const h = await n.api<{ publications: { data: { i: number } }[] }>('history', { channel: 'chat:away', limit: -1 });
    assert.deepEqual(h.publications.map((p) => p.data.i), [1, 3], 'the failed publish never happened');
  });

  await t.test('a table dropped under a running node: clear errors, /ready false, repaired, nothing published twice', async (t) => {
    const schema = testSchema('drop');
    t.after(() => dropSchema(schema));
    const n = await new NodeProcess({ addresses: [], prefix: '', name: 'N', engine: engineFor(PG_DSN, schema) }).ready();
    const c = await SdkClient.connect(n.ws, 'dropper');
    t.after(async () => {
      c.close();
      await n.stop();
    });
    await c.subscribe('chat:drop');
    for (let i = 1; i <= 3; i++) await n.api('publish', { channel: 'chat:drop', data: { i } });
    const admin = postgres(PG_DSN, { max: 1, onnotice: () => {} });
    t.after(() => admin.end({ timeout: 1 }));
    await admin.unsafe(`DROP TABLE "${schema}".history`);
    assert.equal((await status(n, '/ready')).code, 503, '/ready says no once the table is gone');
    // the node repairs the schema (its migrations are idempotent); until then a publish is an error
    await waitFor(async () => (await status(n, '/ready')).code === 200, 10_000, 'the schema to be repaired');
    const acked = [1, 2, 3];
    for (let i = 4; i <= 6; i++) {
      await waitFor(async () => n.api('publish', { channel: 'chat:drop', data: { i } }).then(() => true, () => false), 10_000, `publish ${i}`);
      acked.push(i);
    }
    await waitFor(() => c.pubs('chat:drop').some((p) => (p.data as { i: number }).i === 6), 10_000, 'the publications after the repair');
    // A sentinel published after them: a publication stored twice would reach the client before it.
    await n.api('publish', { channel: 'chat:drop', data: { i: 100 } });
    await waitFor(() => c.pubs('chat:drop').some((p) => (p.data as { i: number }).i === 100), 10_000, 'the sentinel');
    acked.push(100);
    assert.deepEqual(c.pubs('chat:drop').map((p) => (p.data as { i: number }).i), acked, 'each once, in order');
    const tables = await admin.unsafe(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`"${schema}".history`]);
    assert.equal(tables[0]!['ok'], true);
    // a dropped function the same way
    await admin.unsafe(`DROP FUNCTION "${schema}"._append`);
    await assert.rejects(n.api('publish', { channel: 'chat:drop', data: { i: 7 } }), /100 internal server error/);
    await waitFor(async () => n.api('publish', { channel: 'chat:drop', data: { i: 8 } }).then(() => true, () => false), 10_000, 'publishing after the function is back');
    await waitFor(() => c.pubs('chat:drop').some((p) => (p.data as { i: number }).i === 8), 10_000, 'publication 8');
    assert.deepEqual(c.pubs('chat:drop').map((p) => (p.data as { i: number }).i), [...acked, 8]);
  });
});
