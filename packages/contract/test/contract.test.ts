// Channel contracts with three Standard Schema libraries (zod 4, valibot 1, arktype 2): which key
// governs a channel, what a failure reports, asynchronous validators, and contracts that are not contracts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import * as v from 'valibot';
import { type } from 'arktype';
import { check, defineContract, formatIssues, schemaFor, type StandardSchemaV1 } from '@switchboard/contract';

const contract = defineContract({
  'chat:lobby': z.object({ text: z.string(), pinned: z.boolean() }),
  'chat:*': z.object({ text: z.string().max(10) }),
  'trpc:user:*': v.object({ type: v.literal('query-invalidation'), queryKey: v.array(v.unknown()) }),
  'count:*': z.object({ n: z.coerce.number() }),
});

test('an exact key wins over a pattern; the first matching pattern wins; uncovered channels pass unchecked', () => {
  assert.equal(schemaFor(contract, 'chat:lobby')?.key, 'chat:lobby');
  assert.equal(schemaFor(contract, 'chat:room-1')?.key, 'chat:*');
  assert.equal(schemaFor(contract, 'chat:a:b')?.key, 'chat:*', '* matches any characters, colons too');
  assert.equal(schemaFor(contract, 'trpc:user:42')?.key, 'trpc:user:*');
  assert.equal(schemaFor(contract, 'trpc:org:1'), undefined);
  assert.deepEqual(check(contract, 'other:x', { anything: 1 }), { ok: true, value: { anything: 1 }, checked: false });
});

test('zod and valibot failures come back as issues with paths; successes return the parsed value', () => {
  const bad = check(contract, 'chat:room', { text: 'far too long for ten' });
  assert.ok(!(bad instanceof Promise) && !bad.ok);
  assert.equal(bad.key, 'chat:*');
  assert.deepEqual(bad.issues.map((i) => i.path), [['text']]);
  assert.match(formatIssues(bad.issues), /^text: /);

  const badV = check(contract, 'trpc:user:7', { type: 'other', queryKey: [] });
  assert.ok(!(badV instanceof Promise) && !badV.ok);
  assert.deepEqual(badV.issues.map((i) => i.path), [['type']]);

  const nested = check(contract, 'trpc:user:7', { type: 'query-invalidation', queryKey: 'x' });
  assert.ok(!(nested instanceof Promise) && !nested.ok && nested.issues[0]!.path[0] === 'queryKey');

  const good = check(contract, 'count:a', { n: '41' });
  assert.deepEqual(good, { ok: true, value: { n: 41 }, checked: true }, 'the validated (coerced) value');
});

test('arktype schemas in a contract: failures with paths, successes with the morphed value', () => {
  const c = defineContract({
    'orders:*': type({ id: 'string', qty: 'number.integer > 0', 'note?': 'string <= 20' }),
    'count:*': type({ n: 'string.numeric.parse' }),
  });
  const bad = check(c, 'orders:eu', { id: 'o1', qty: 0, note: 'x'.repeat(21) });
  assert.ok(!(bad instanceof Promise) && !bad.ok);
  assert.equal(bad.key, 'orders:*');
  assert.deepEqual(bad.issues.map((i) => i.path).sort(), [['note'], ['qty']]);
  assert.match(formatIssues(bad.issues), /qty: /);

  const missing = check(c, 'orders:eu', { qty: 1 });
  assert.ok(!(missing instanceof Promise) && !missing.ok);
  assert.deepEqual(missing.issues.map((i) => i.path), [['id']]);

  assert.deepEqual(check(c, 'orders:eu', { id: 'o2', qty: 3 }), { ok: true, value: { id: 'o2', qty: 3 }, checked: true });
  assert.deepEqual(check(c, 'count:a', { n: '41' }), { ok: true, value: { n: 41 }, checked: true }, 'the morphed value');
});

test('an asynchronous validator resolves to the same result shape', async () => {
  const c = defineContract({ 'slow:*': z.object({ id: z.string() }).refine(async (x) => x.id !== 'taken', { message: 'id taken' }) });
  const r = check(c, 'slow:1', { id: 'taken' });
  assert.ok(r instanceof Promise);
  const res = await r;
  assert.ok(!res.ok);
  assert.equal(res.issues[0]!.message, 'id taken');
  assert.deepEqual(await check(c, 'slow:1', { id: 'free' }), { ok: true, value: { id: 'free' }, checked: true });
});

test('a validator that throws is a failed check, not an exception', () => {
  const throwing: StandardSchemaV1 = { '~standard': { version: 1, vendor: 'test', validate: () => { throw new Error('boom'); } } };
  const r = check(defineContract({ 'x:*': throwing }), 'x:1', {});
  assert.ok(!(r instanceof Promise) && !r.ok);
  assert.match(r.issues[0]!.message, /boom/);
});

test('defineContract refuses what is not a contract, naming the key', () => {
  assert.throws(() => defineContract({ 'chat:*': { parse: () => 1 } } as never), /"chat:\*" does not implement Standard Schema v1/);
  assert.throws(() => defineContract({ '': z.string() }), /empty channel pattern/);
  assert.throws(() => defineContract(null as never), /must be an object/);
});
