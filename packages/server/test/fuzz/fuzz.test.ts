// CI run of the protocol fuzzer: 100,000 malformed frames per protocol (native, PondSocket, plain
// JSON, Phoenix, Pusher) against one server in a child process (--expose-gc), with bystanders of every protocol.
// The nightly variant: `npm run fuzz -- --frames 10000000`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFuzz } from './run.js';

const FRAMES = Number(process.env.FUZZ_FRAMES ?? 100_000);

test(`fuzz: ${FRAMES} malformed frames per protocol; every one answered with its documented code; bystanders get everything in order; RSS back within 10 %`, { timeout: 900_000 }, async (t) => {
  const report = await runFuzz({ frames: FRAMES, seed: Number(process.env.FUZZ_SEED ?? 20261125), log: (l) => t.diagnostic(l) });
  assert.deepEqual(report.fatal, [], 'no uncaught exception or unhandled rejection in the server');
  assert.equal(report.serverExit, 0, 'the server process exited cleanly');
  assert.deepEqual(report.protocols.map((p) => p.protocol).sort(), ['centrifuge', 'phoenix', 'plain', 'pond', 'pusher']);
  for (const p of report.protocols) {
    assert.ok(p.frames >= FRAMES, `${p.protocol}: ${p.frames} frames sent`);
    assert.equal(p.failureCount, 0, `${p.protocol}: every frame got its documented outcome:\n${p.failures.join('\n')}`);
    t.diagnostic(`${p.protocol}: close codes ${JSON.stringify(p.closeCodes)}; kinds ${Object.keys(p.byKind).length}`);
  }
  // No handler error, no internal error code, no internal-error disconnect.
  assert.deepEqual(report.after.handlerErrors, []);
  assert.equal(report.after.errors['100'], undefined, 'no internal error replies');
  assert.equal(report.after.disconnects['3004'], undefined, 'no internal error disconnects');
  // Bystanders of every protocol received every publication, in order, and were never refused.
  assert.ok(report.bystanders.published > 0);
  assert.deepEqual(report.bystanders.problems, []);
  assert.ok(report.bystanders.delivered);
  // Nothing left behind but the bystanders.
  assert.equal(report.after.counts.connections, report.bystanders.receivers);
  assert.equal(report.after.counts.pendingUpgrades, 0);
  const growth = (report.after.rss - report.before.rss) / report.before.rss;
  t.diagnostic(`RSS before ${(report.before.rss / 1048576).toFixed(1)} MiB, after ${(report.after.rss / 1048576).toFixed(1)} MiB (${(growth * 100).toFixed(1)} %); heap ${(report.before.heapUsed / 1048576).toFixed(1)} -> ${(report.after.heapUsed / 1048576).toFixed(1)} MiB; ${report.seconds.toFixed(0)} s`);
  assert.ok(growth <= 0.1, `RSS after the run within 10 % of before (${(growth * 100).toFixed(1)} %)`);
});
