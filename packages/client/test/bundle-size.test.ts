// The size budget: every client-side entry point, bundled alone (minified, gzip), stays within
// scripts/size-budget.json. `npm run size -- --write` refreshes docs/bundle-sizes.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { budget, measure, overBudget } from '../../../scripts/bundle-size.js';

test('every client-side entry point is within its gzip size budget', { timeout: 120_000 }, async () => {
  const sizes = await measure();
  assert.ok(sizes.length >= 10, 'every entry was measured');
  for (const s of sizes) assert.ok(s.gzip > 0 && s.gzip < s.minified, `${s.entry}: a plausible gzip size`);
  assert.deepEqual(overBudget(sizes), [], 'entries over budget');
  assert.deepEqual(Object.keys(budget()).sort(), sizes.map((s) => s.entry).sort(), 'the budget names exactly the measured entries');
});
