import assert from 'node:assert/strict';
import { test } from 'node:test';
import { globMatcher, globToRegExp, parseDuration } from '../src/index.js';

test('parseDuration: Go-style durations in milliseconds, anything else refused', () => {
  assert.equal(parseDuration('300s'), 300_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('.5s'), 500);
  assert.equal(parseDuration('1500us'), 2, 'below a millisecond: rounded');
  assert.equal(parseDuration('0'), 0);
  for (const bad of ['', '10', '5 minutes', '-5s', '+5s', ' 5s', '5s ', '5x', 's', '1d', '1h 30m']) {
    assert.equal(parseDuration(bad), undefined, JSON.stringify(bad));
  }
});

test('globs: * any run, ? one character, the rest literal; a separator and case-insensitivity for origins', () => {
  const ch = globToRegExp('chat:*');
  assert.ok(ch.test('chat:lobby'));
  assert.ok(ch.test('chat:'));
  assert.ok(!ch.test('news:chat:lobby'));
  assert.ok(globToRegExp('user:?2').test('user:42'));
  assert.ok(!globToRegExp('user:?2').test('user:142'));
  assert.ok(globToRegExp('a.b+(c)[d]').test('a.b+(c)[d]'), 'regex characters are literal');
  assert.ok(!globToRegExp('a.b').test('axb'));
  assert.ok(globToRegExp('a?b', { singleChar: false }).test('a?b'), 'contract keys: ? is itself');
  assert.ok(!globToRegExp('a?b', { singleChar: false }).test('axb'));
  const origins = globMatcher(['https://*.example.com', 'http://localhost:5173'], { separator: '/', ignoreCase: true });
  assert.ok(origins('https://app.example.com'));
  assert.ok(origins('HTTPS://App.Example.COM'));
  assert.ok(origins('http://localhost:5173'));
  assert.ok(!origins('https://evil.com'));
  assert.ok(!origins('https://example.com.evil.com'));
  assert.ok(!origins('https://evil.com/.example.com'), '* never crosses the separator');
});
