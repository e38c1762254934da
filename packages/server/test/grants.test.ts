// The token grants (grants.ts) as pure functions; the end-to-end flow is apps/server/test/seed-flow.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capAllows, ownsChannel, subscribeGrant } from '../src/grants.js';

const byClaim = { user: 'sub', org: 'orgs' };

test('subscribeByClaim: the segment after the namespace names the claim that owns the channel', () => {
  assert.equal(ownsChannel('trpc:user:42', 'trpc', byClaim, '42', undefined), true);
  assert.equal(ownsChannel('trpc:user:42', 'trpc', byClaim, '43', undefined), false);
  assert.equal(ownsChannel('trpc:user:42:x', 'trpc', byClaim, '42', undefined), false, 'the whole rest is the id');
  assert.equal(ownsChannel('trpc:user:', 'trpc', byClaim, '', undefined), false, 'anonymous owns nothing');
  assert.equal(ownsChannel('trpc:org:7', 'trpc', byClaim, '42', { orgs: ['7', 9] }), true);
  assert.equal(ownsChannel('trpc:org:9', 'trpc', byClaim, '42', { orgs: ['7', 9] }), true, 'numbers compare as their decimal text');
  assert.equal(ownsChannel('trpc:org:7', 'trpc', byClaim, '42', { orgs: 7 }), true);
  assert.equal(ownsChannel('trpc:org:7', 'trpc', byClaim, '42', { orgs: { 7: true } }), false, 'an object is not a list');
  assert.equal(ownsChannel('trpc:org:7', 'trpc', byClaim, '42', undefined), false);
  // Not covered by the rule: the namespace's own options decide.
  assert.equal(ownsChannel('trpc:global', 'trpc', byClaim, '42', undefined), undefined);
  assert.equal(ownsChannel('trpc:team:1', 'trpc', byClaim, '42', undefined), undefined);
  assert.equal(ownsChannel('trpc:constructor:1', 'trpc', byClaim, '42', undefined), undefined, 'no inherited keys');
  assert.equal(ownsChannel('trpc:user:42', 'trpc', undefined, '42', undefined), undefined);
});

test('caps: the first entry whose channels match decides; exact names or wildcard patterns', () => {
  const claims = {
    caps: [
      { channels: ['news'], allow: ['sub', 'hst'] },
      { channels: ['chat:*'], match: 'wildcard', allow: ['sub', 'pub'] },
      { channels: ['chat:*:ro'], match: 'wildcard', allow: ['pub'] },
      { channels: ['re.*'], match: 'regex', allow: ['sub'] },
    ],
  };
  assert.equal(capAllows(claims, 'news', 'sub'), true);
  assert.equal(capAllows(claims, 'news', 'hst'), true);
  assert.equal(capAllows(claims, 'news', 'pub'), false);
  assert.equal(capAllows(claims, 'newsx', 'sub'), false);
  assert.equal(capAllows(claims, 'chat:room:ro', 'sub'), true, 'the first matching entry wins');
  assert.equal(capAllows(claims, 'chatroom', 'sub'), false);
  assert.equal(capAllows(claims, 'regex', 'sub'), false, 'regex patterns are not supported: never matches');
  assert.equal(capAllows({ caps: 'news' }, 'news', 'sub'), false);
  assert.equal(capAllows(undefined, 'news', 'sub'), false);
});

test('subscribeGrant: caps allow, owned channels belong to their owners, the rest keeps the namespace verdict', () => {
  assert.equal(subscribeGrant('trpc:user:42', 'trpc', byClaim, '43', undefined, true), false, 'owned even where the namespace allows');
  assert.equal(subscribeGrant('trpc:user:42', 'trpc', byClaim, '43', { caps: [{ channels: ['trpc:user:42'], allow: ['sub'] }] }, true), true);
  assert.equal(subscribeGrant('trpc:global', 'trpc', byClaim, '43', undefined, true), true);
  assert.equal(subscribeGrant('trpc:global', 'trpc', byClaim, '43', undefined, false), false);
});
