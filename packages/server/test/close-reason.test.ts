import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fitCloseReason } from '../src/transport-ws.js';

test('a close reason is cut to 123 bytes of UTF-8 at a character boundary, never past it', () => {
  assert.equal(fitCloseReason('short'), 'short');
  const ascii = 'a'.repeat(200);
  assert.equal(fitCloseReason(ascii), 'a'.repeat(123));
  // 'é' is 2 bytes: 122 'a' then 'é' would be 124 bytes, so the 'é' goes whole (a byte cut left half of it)
  assert.equal(fitCloseReason(`${'a'.repeat(122)}é and more`), 'a'.repeat(122));
  // 3-byte characters: 41 fit exactly
  assert.equal(fitCloseReason('€'.repeat(60)), '€'.repeat(41));
  // a 4-byte character (a surrogate pair) is kept whole or dropped whole
  const cut = fitCloseReason(`${'a'.repeat(121)}😀😀`);
  assert.equal(cut, 'a'.repeat(121));
  for (const r of [ascii, '€'.repeat(60), `${'a'.repeat(121)}😀😀`, `${'😀'.repeat(40)}`]) {
    const out = fitCloseReason(r);
    assert.ok(Buffer.byteLength(out) <= 123, r);
    assert.ok(!out.includes('\uFFFD') && Buffer.from(out).toString() === out, 'no broken character');
  }
});
