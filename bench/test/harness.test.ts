// Runs the benchmark harness itself with tiny N, every system, so it never rots. No timing
// assertions: only that every system ran every scenario and every publication was delivered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CONFIGS, SYSTEMS, runBench } from '../src/run.js';
import { checkTargets, markdown } from '../src/report.js';
import { runWireBytes, VARIANTS, wireBytesMarkdown } from '../src/wire-bytes.js';

// bound: each two-node system takes about 40 s here when the machine is shared (load ~40), the rest less
test('the bench harness runs every scenario for every system (tiny N)', { timeout: 600_000 }, async () => {
  const result = await runBench({ mode: 'tiny', ...CONFIGS.tiny });
  assert.equal(result.systems.length, SYSTEMS.length);
  for (const s of result.systems) {
    if (s.skipped) {
      // Only systems whose code has not landed in this checkout may be skipped, and they say why.
      assert.match(s.skipped, /has not landed|not registered/, `${s.id} skipped: ${s.skipped}`);
      continue;
    }
    assert.equal(s.error, undefined, `${s.id}: ${s.error}`);
    assert.equal(s.storm?.connections, CONFIGS.tiny.total, `${s.id}: every client subscribed`);
    assert.equal(s.storm?.failed, 0);
    assert.ok(s.idle && s.idle.rss > 0, `${s.id}: idle memory measured`);
    for (const n of CONFIGS.tiny.fanSizes) {
      const l = s.fan[n];
      assert.ok(l && l.steps.length > 0, `${s.id}: fan-out ladder at N=${n}`);
      for (const st of l.steps) {
        assert.equal(st.delivered, st.expected, `${s.id} N=${n} at ${st.offeredPerSec}/s: every publication reached every subscriber`);
        assert.ok(st.p99 > 0 && st.p50 <= st.p99 && st.p99 <= st.p999);
      }
      assert.ok(s.costUsPerDelivery[n]! > 0);
    }
    assert.ok(s.many && s.many.steps.length > 0, `${s.id}: many-channels ladder`);
    for (const st of s.many.steps) assert.equal(st.delivered, st.expected, `${s.id} many channels: every publication delivered`);
    assert.equal(s.droppedConnections, 0, `${s.id}: no connection dropped`);
  }
  const md = markdown(result);
  for (const s of result.systems) assert.ok(md.includes(s.id));
  assert.ok(checkTargets(result).length >= 6);
});

// The wire-bytes scenario (`--scenario wire-bytes`) at tiny N, so it never rots: every variant
// delivers everything, the result records where it ran, and delta sends fewer bytes than full
// payloads in both encodings. No timing assertions (CPU is recorded, not judged).
test('the wire-bytes scenario runs every encoding at tiny N and delta saves bytes', { timeout: 180_000 }, async () => {
  const r = await runWireBytes({ sizes: [20], pubs: 10, rate: 50, drainTimeoutMs: 20_000 });
  assert.equal(r.scenario, 'wire-bytes');
  assert.match(r.meta.commit, /^[0-9a-f]{40}|unknown/);
  assert.equal(r.meta.loadStart.length, 3);
  assert.deepEqual(r.rows.map((x) => x.encoding), VARIANTS.map((v) => v.name));
  for (const x of r.rows) {
    assert.equal(x.expected, 200);
    assert.equal(x.delivered, x.expected, `${x.encoding}: every publication reached every subscriber`);
    assert.ok(x.bytes > 0 && x.cpuUs >= 0, x.encoding);
  }
  const row = (name: string) => r.rows.find((x) => x.encoding === name)!;
  assert.ok(row('JSON + delta').bytes < row('JSON').bytes, `JSON: delta ${row('JSON + delta').bytes} vs full ${row('JSON').bytes}`);
  assert.ok(row('Protobuf + delta').bytes < row('Protobuf').bytes, `Protobuf: delta ${row('Protobuf + delta').bytes} vs full ${row('Protobuf').bytes}`);
  assert.ok(wireBytesMarkdown(r).includes('| 20 | Protobuf + delta |'));
});
