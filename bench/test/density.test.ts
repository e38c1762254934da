// The density and storm scenarios at tiny N for every system they compare (so the harness never
// rots), and a memory budget per idle subscribed Switchboard connection at 2,000 connections, so a
// regression in per-connection memory fails CI. No timing assertions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DENSITY_DEFAULTS, DENSITY_SYSTEMS, runDensity, runStorm } from '../src/density.js';
import { densityMarkdown } from '../src/density-report.js';

const tiny = { ...DENSITY_DEFAULTS, idleWindowMs: 100, spreadMs: 200, timeoutMs: 20_000, connectConcurrency: 20 };

test('density and storm run for every compared system (tiny N)', { timeout: 240_000 }, async () => {
  const d = await runDensity({ ...tiny, levels: [20, 40] });
  assert.deepEqual(d.systems.map((s) => s.id), DENSITY_SYSTEMS);
  assert.match(d.meta.commit, /^[0-9a-f]{40}|unknown/);
  assert.equal(d.meta.loadStart.length, 3);
  for (const s of d.systems) {
    assert.equal(s.error, undefined, `${s.id}: ${s.error}`);
    assert.deepEqual(s.levels.map((l) => l.n), [20, 40]);
    for (const l of s.levels) {
      assert.equal(l.connected, l.n, `${s.id}: every connection subscribed at N=${l.n}`);
      assert.equal(l.broadcastDelivered, l.n, `${s.id}: the broadcast reached every connection at N=${l.n}`);
      assert.ok(l.rss > 0 && l.idleCpuPct >= 0);
    }
  }
  assert.ok(densityMarkdown(d).includes('sb-native'));

  const st = await runStorm({ ...tiny, levels: [30] });
  for (const s of st.systems) {
    assert.equal(s.error, undefined, `${s.id}: ${s.error}`);
    assert.equal(s.storm?.initial.connections, 30, `${s.id}: initial wave`);
    assert.equal(s.storm?.reconnect.connections, 30, `${s.id}: every connection came back after the reconnect storm`);
    assert.equal(s.storm?.reconnect.failed, 0, `${s.id}: ${s.storm?.reconnect.errors.join('; ')}`);
    assert.equal(s.storm?.afterBroadcast.delivered, 30, `${s.id}: subscriptions restored`);
  }
  assert.ok(densityMarkdown(st).includes('reconnect'));
});

/**
 * Memory budget per idle subscribed connection (JWT, two channels), Switchboard native protocol.
 * Measured on this machine at 2,000 connections (bench/RESULTS.md, "Density and connect storms"):
 * 5.3 KB JS heap before the core split, 6.7–6.9 KB after it (main 8144ffe), 19–22 KB RSS
 * (raw ws: 4.9 KB heap, 15–16 KB RSS). The budgets leave a margin for noise, not for growth:
 * lower them when the figure drops.
 */
const HEAP_BUDGET_KB = 8;
const RSS_BUDGET_KB = 32;

test(`an idle subscribed connection stays within ${HEAP_BUDGET_KB} KB of heap and ${RSS_BUDGET_KB} KB of RSS (2,000 connections)`, { timeout: 240_000 }, async () => {
  const r = await runDensity({ ...DENSITY_DEFAULTS, systems: ['sb-native'], levels: [2000], idleWindowMs: 100, timeoutMs: 60_000, connectConcurrency: 100 });
  const s = r.systems[0]!;
  assert.equal(s.error, undefined, s.error);
  const l = s.levels[0]!;
  assert.equal(l.connected, 2000);
  assert.equal(l.broadcastDelivered, 2000);
  const heapKb = l.heapPerConn / 1024;
  const rssKb = l.rssPerConn / 1024;
  assert.ok(heapKb <= HEAP_BUDGET_KB, `JS heap per idle connection ${heapKb.toFixed(2)} KB > budget ${HEAP_BUDGET_KB} KB`);
  assert.ok(rssKb <= RSS_BUDGET_KB, `RSS per idle connection ${rssKb.toFixed(2)} KB > budget ${RSS_BUDGET_KB} KB`);
});
