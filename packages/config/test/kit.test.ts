import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkEngine,
  duration,
  engineSchema,
  engineSection,
  envKeys,
  flag,
  integer,
  parseWithEnv,
  section,
  strings,
  stringOrStrings,
  text,
  unknownEnv,
  z,
} from '../src/index.js';

// Two engine sections, as two packages would export them: the pattern holds for more than one.
const alpha = engineSection({
  type: 'alpha',
  schema: section({ address: stringOrStrings('"127.0.0.1:1"').optional(), ttl: duration({ min: 1000 }).prefault('60s') }),
  whenSelected(s, report) {
    if (s.address === undefined) report('address', 'required with engine.type "alpha"');
  },
});
const beta = engineSection({ type: 'beta', schema: section({ dsn: text().default('postgres://localhost/test'), pool: integer({ example: 10 }).default(5) }) });
const SECTIONS = [alpha, beta] as const;
const schema = z.strictObject({
  server: section({ port: integer({ max: 65535, example: 8000 }).default(8000), origins: strings('["https://example.com"]').optional(), debug: flag().default(false) }),
  items: z.array(z.strictObject({ name: text() })).default([]),
  engine: engineSchema(SECTIONS),
});

function check(raw: unknown, env: NodeJS.ProcessEnv = {}) {
  const parsed = parseWithEnv(schema, raw, env);
  if (!parsed.ok) return { issues: parsed.issues.map((i) => `${i.key}: ${i.message}`) };
  const issues: string[] = [];
  checkEngine(SECTIONS, parsed.value.engine, (key, message) => issues.push(`${key}: ${message}`));
  return { value: parsed.value, issues };
}

test('defaults fill in, durations become milliseconds, and the result is typed per section', () => {
  const { value, issues } = check({});
  assert.deepEqual(issues, []);
  assert.ok(value);
  const port: number = value.server.port;
  const ttl: number = value.engine.alpha.ttl;
  const pool: number = value.engine.beta.pool;
  assert.deepEqual([port, ttl, pool, value.engine.type, value.engine.beta.dsn], [8000, 60_000, 5, 'memory', 'postgres://localhost/test']);
});

test('every key has its environment variable, derived from the path; the variables override the file', () => {
  const names = envKeys(schema).map((k) => `${k.env}=${k.kind}`);
  assert.deepEqual(names, [
    'SWITCHBOARD_SERVER_PORT=integer',
    'SWITCHBOARD_SERVER_ORIGINS=strings',
    'SWITCHBOARD_SERVER_DEBUG=boolean',
    'SWITCHBOARD_ITEMS=json',
    'SWITCHBOARD_ENGINE_TYPE=string',
    'SWITCHBOARD_ENGINE_ALPHA_ADDRESS=string-or-strings',
    'SWITCHBOARD_ENGINE_ALPHA_TTL=duration',
    'SWITCHBOARD_ENGINE_BETA_DSN=string',
    'SWITCHBOARD_ENGINE_BETA_POOL=integer',
  ]);
  const { value } = check(
    { server: { port: 1 } },
    { SWITCHBOARD_SERVER_PORT: '9000', SWITCHBOARD_SERVER_ORIGINS: 'https://a, https://b', SWITCHBOARD_ENGINE_ALPHA_TTL: '2m', SWITCHBOARD_ITEMS: '[{"name":"x"}]', SWITCHBOARD_SERVER_DEBUG: '1' },
  );
  assert.deepEqual([value?.server.port, value?.server.origins, value?.engine.alpha.ttl, value?.items, value?.server.debug], [9000, ['https://a', 'https://b'], 120_000, [{ name: 'x' }], true]);
  assert.deepEqual(check({}, { SWITCHBOARD_SERVER_DEBUG: 'yes' }).issues, ['SWITCHBOARD_SERVER_DEBUG: expected true or false, got "yes"']);
  assert.deepEqual(unknownEnv(envKeys(schema), { SWITCHBOARD_SERVER_PROT: '1', SWITCHBOARD_SERVER_PORT: '1', HOME: '/' }), ['SWITCHBOARD_SERVER_PROT']);
});

test('messages name the key, say what it wants with an example, and hint at the key meant', () => {
  assert.deepEqual(check({ server: { prot: 1, port: '80' }, items: [{ name: 'a', nmae: 'b' }], engine: { alpha: { ttl: 5, adress: 'x' } } }).issues, [
    'server.port: expected an integer from 0 to 65535, got string "80"; write e.g. 8000',
    'server.prot: unknown key (did you mean "port"?); remove it or fix its name',
    'items[0].nmae: unknown key (did you mean "name"?); remove it or fix its name',
    'engine.alpha.ttl: expected a duration string, got number 5; write e.g. "300s", "5m" or "1h30m"',
    'engine.alpha.adress: unknown key (did you mean "address"?); remove it or fix its name',
  ]);
  assert.deepEqual(check({ server: { origins: ['a', 1] }, items: {} }).issues, [
    'server.origins: expected an array of strings, got array ["a",1]; write e.g. ["https://example.com"]',
    'items: expected an array of objects, got object',
  ]);
  assert.deepEqual(check({ engine: { alpha: { ttl: '10ms' } } }).issues, ['engine.alpha.ttl: at least "1s"']);
  assert.deepEqual(check([]).issues, ['(root): expected an object, got array']);
});

test('engine.type: a known engine runs its own checks; an unknown one lists those there are', () => {
  assert.deepEqual(check({ engine: { type: 'alpha' } }).issues, ['engine.alpha.address: required with engine.type "alpha"']);
  assert.deepEqual(check({ engine: { type: 'alpha', alpha: { address: 'h:1' } } }).issues, []);
  assert.deepEqual(check({ engine: { type: 'beta' } }).issues, []);
  assert.deepEqual(check({ engine: { type: 'gamma' } }).issues, ['engine.type: unknown engine "gamma": use "memory", "alpha" or "beta"']);
});
