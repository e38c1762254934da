// Driver choice measurement (run once, by hand): `pg` against `postgres` on what this engine does.
// Needs both installed outside the repo: `npm i pg postgres` in a scratch directory, then
//   NODE_PATH=<scratch>/node_modules node driver-compare.mjs [dsn]
// Prints, per driver: sequential round trips/s, pipelined/concurrent statements/s (8 connections),
// and NOTIFY -> listener latency.
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(join(process.env.NODE_PATH ?? process.cwd(), 'x.js'));
const pg = require('pg');
const postgresMod = await import(require.resolve('postgres'));
const postgres = postgresMod.default ?? postgresMod;
const dsn = process.argv[2] ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(process.env.N ?? 5000);
const SQL = "SELECT $1::bigint + 1 AS n, repeat('x', 200) AS pad";

async function timeit(fn) {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

async function measurePg() {
  const pool = new pg.Pool({ connectionString: dsn, max: 8 });
  const c = await pool.connect();
  for (let i = 0; i < 200; i++) await c.query(SQL, [i]); // warm up
  const seq = await timeit(async () => {
    for (let i = 0; i < N; i++) await c.query(SQL, [i]);
  });
  c.release();
  const conc = await timeit(async () => {
    const ps = [];
    for (let i = 0; i < N; i++) ps.push(pool.query(SQL, [i]));
    await Promise.all(ps);
  });
  const l = new pg.Client({ connectionString: dsn });
  await l.connect();
  await l.query('LISTEN drvcmp');
  const lat = [];
  await timeit(async () => {
    for (let i = 0; i < 500; i++) {
      const got = new Promise((r) => l.once('notification', r));
      const t = process.hrtime.bigint();
      await pool.query("SELECT pg_notify('drvcmp', $1)", [String(i)]);
      await got;
      lat.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  });
  await l.end();
  await pool.end();
  return { seq, conc, lat };
}

async function measurePostgres() {
  const sql = postgres(dsn, { max: 8 });
  const one = postgres(dsn, { max: 1 });
  for (let i = 0; i < 200; i++) await one.unsafe(SQL, [i], { prepare: true });
  const seq = await timeit(async () => {
    for (let i = 0; i < N; i++) await one.unsafe(SQL, [i], { prepare: true });
  });
  const conc = await timeit(async () => {
    const ps = [];
    for (let i = 0; i < N; i++) ps.push(sql.unsafe(SQL, [i], { prepare: true }));
    await Promise.all(ps);
  });
  const lat = [];
  let resolve;
  await sql.listen('drvcmp', () => resolve?.());
  for (let i = 0; i < 500; i++) {
    const got = new Promise((r) => (resolve = r));
    const t = process.hrtime.bigint();
    await sql`SELECT pg_notify('drvcmp', ${String(i)})`;
    await got;
    lat.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  await one.end();
  await sql.end();
  return { seq, conc, lat };
}

function report(name, r) {
  const s = [...r.lat].sort((a, b) => a - b);
  const p = (q) => s[Math.floor(q * (s.length - 1))].toFixed(2);
  console.log(`${name}: sequential ${Math.round((N / r.seq) * 1000)}/s, concurrent (8 conns) ${Math.round((N / r.conc) * 1000)}/s, notify->listener p50 ${p(0.5)} ms p99 ${p(0.99)} ms`);
}

for (let round = 0; round < 2; round++) {
  report('pg', await measurePg());
  report('postgres', await measurePostgres());
}
