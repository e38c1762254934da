// Malformed-frame generators with their oracles, built on fast-check arbitraries.
import fc from 'fast-check';

/**
 * A frame answered in-band. `expect` is the outcome the dialect's parser must report for the reply
 * (an error code, 'ok', or a protocol-specific token). With `anonymous`, the reply carries no id the
 * frame chose (e.g. invalid JSON): that many replies with outcome `expect` and no known key are due.
 */
export interface ReplyFrame {
  /** The frame's text for a given command id. */
  text(id: number): string;
  expect: string;
  anonymous?: number;
  /** Sent alone, as a binary WebSocket message. */
  binary?: boolean;
  kind: string;
}

/** Valid UTF-8 text that is not a JSON object with the fields a protocol wants, with its non-blank line count. */
export const garbageText = fc
  .oneof(fc.string({ minLength: 1, maxLength: 300, unit: 'binary' }), fc.string({ minLength: 1, maxLength: 100 }))
  .map((s) => {
    const text = Buffer.from(s).toString('utf8');
    return { text, lines: text.split('\n').filter((l) => l.trim() !== '').length };
  })
  .filter((g) => g.lines > 0);

/** A frame that must close the connection with one of `expect` (WebSocket close codes). */
export interface CloseFrame {
  /** 'pre': sent as the first frame; 'post': after the protocol's handshake. */
  stage: 'pre' | 'post';
  data: string | Uint8Array;
  binary: boolean;
  expect: readonly number[];
  kind: string;
}

/** JSON text that may not round-trip (huge numbers, lone surrogates, deep nesting), plus its parsed value. */
export interface Junk {
  text: string;
  value: unknown;
}

const rawNumbers = ['1e400', '-1e400', '9007199254740993', '-9007199254740993', '1e-400', '-0', '0.1', '1.5e300', '123456789012345678901234567890'];

const fromValue = (a: fc.Arbitrary<unknown>) => a.map((v) => ({ text: JSON.stringify(v) ?? 'null', value: v }));

// Arbitrary JSON documents are slow to generate (~0.2 ms each): draw a pool once per depth and
// pick from it (a few thousand distinct documents per run, the rest of each frame varies freely).
const jsonPools = new Map<number, fc.Arbitrary<Junk>>();
function jsonDocs(maxDepth: number): fc.Arbitrary<Junk> {
  let a = jsonPools.get(maxDepth);
  if (!a) {
    const docs = fc.sample(fc.jsonValue({ maxDepth }), { numRuns: 3000, seed: 7919 * maxDepth });
    const pool = docs.map((v) => ({ text: JSON.stringify(v) ?? 'null', value: v }));
    jsonPools.set(maxDepth, (a = fc.nat(pool.length - 1).map((i) => pool[i]!)));
  }
  return a;
}

/** Junk of every JSON type; `maxDepth` > 0 adds arbitrary JSON documents. */
export function junk(maxDepth = 3): fc.Arbitrary<Junk> {
  return fc.oneof(
    maxDepth > 0 ? jsonDocs(maxDepth) : fromValue(fc.array(fc.oneof(fc.integer(), fc.boolean(), fc.constant(null)), { maxLength: 4 })),
    fromValue(fc.string({ maxLength: 40, unit: 'binary' })),
    fromValue(fc.integer()),
    fromValue(fc.double({ noNaN: true, noDefaultInfinity: true })),
    fromValue(fc.boolean()),
    fromValue(fc.constant(null)),
    fc.nat(rawNumbers.length - 1).map((i) => ({ text: rawNumbers[i]!, value: JSON.parse(rawNumbers[i]!) as unknown })),
    // huge strings
    fc.nat(6000).map((n) => ({ text: JSON.stringify('A'.repeat(n)), value: 'A'.repeat(n) })),
    // deep nesting
    fc.integer({ min: 200, max: 2500 }).map((d) => ({ text: '['.repeat(d) + ']'.repeat(d), value: [] as unknown })),
    fc.integer({ min: 200, max: 1500 }).map((d) => ({ text: '{"a":'.repeat(d) + '1' + '}'.repeat(d), value: {} })),
  );
}

export const asciiWord = fc.stringMatching(/^[a-z0-9_-]{1,24}$/);

/** Optional extra fields with the wrong types (or right types with absurd values). */
export function extras(names: readonly string[]): fc.Arbitrary<string> {
  const fields: Record<string, fc.Arbitrary<Junk>> = {};
  for (const n of names) fields[n] = junk(0);
  return fc
    .record(fields, { requiredKeys: [] })
    .map((r) => Object.entries(r).map(([k, v]) => `,${JSON.stringify(k)}:${(v as Junk).text}`).join(''));
}

/** Bytes that are not a valid frame of any text protocol. */
export const randomBytes = fc.uint8Array({ minLength: 1, maxLength: 512 });

/** Deeply nested JSON that is not an object with a known command. */
export const deepNesting = fc.oneof(
  fc.integer({ min: 100, max: 5000 }).map((d) => '['.repeat(d) + ']'.repeat(d)),
  fc.integer({ min: 100, max: 2000 }).map((d) => '{"x":'.repeat(d) + 'null' + '}'.repeat(d)),
);

/** Frames just over the message size limit. */
export function oversize(limit: number): fc.Arbitrary<string> {
  return fc.integer({ min: 1, max: 2048 }).map((extra) => `{"id":1,"publish":{"channel":"locked:x","data":"${'Z'.repeat(limit + extra - 50)}"}}`);
}

/** Draws samples of an arbitrary in batches, each batch from the next seed (reproducible). */
export class Sampler<T> {
  #buf: T[] = [];
  #seed: number;
  constructor(
    readonly arb: fc.Arbitrary<T>,
    seed: number,
    readonly batch = 256,
  ) {
    this.#seed = seed;
  }
  next(): T {
    if (this.#buf.length === 0) this.#buf = fc.sample(this.arb, { numRuns: this.batch, seed: this.#seed++ });
    return this.#buf.pop()!;
  }
}
