// What `publish` reports about its reach (`reached`, the HTTP API's `subscribers`), and that a
// single node with a history store other than the memory one still delivers what it stores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryHistoryStore, type HistoryReadOptions, type HistoryStore, type HistoryOptions, type Publication } from '../src/index.js';
import { startServer, until } from './helpers.js';
import { command, connectNative, takePubs } from './reliability/native.js';

/** Another history store (it only delegates): the node must await it instead of dispatching in step. */
class DelegatingHistory implements HistoryStore {
  readonly #inner = new MemoryHistoryStore();
  append(channel: string, pub: Publication, options: HistoryOptions) {
    return this.#inner.append(channel, pub, options);
  }
  read(channel: string, options: HistoryReadOptions) {
    return this.#inner.read(channel, options);
  }
  position(channel: string) {
    return this.#inner.position(channel);
  }
  remove(channel: string) {
    return this.#inner.remove(channel);
  }
  close() {
    return this.#inner.close();
  }
}

const namespaces = { hist: { allowSubscribeForClient: true, historySize: 10, historyTtlMs: 60_000 }, news: { allowSubscribeForClient: true } };

test('reached: the subscribers a publication was handed to on one node (0 for nobody)', { timeout: 30_000 }, async () => {
  const srv = await startServer({ namespaces });
  try {
    const a = await connectNative(srv.url, 'a');
    const b = await connectNative(srv.url, 'b');
    for (const x of [a, b]) assert.equal((await command(x.c, 'subscribe', { channel: 'hist:room' })).error, undefined);
    assert.equal((await command(a.c, 'subscribe', { channel: 'news:room' })).error, undefined);
    const counts: number[] = [];
    await srv.sb.publish('hist:room', { n: 1 }, { reached: (n) => counts.push(n) });
    await srv.sb.publish('news:room', { n: 2 }, { reached: (n) => counts.push(n) });
    await srv.sb.publish('news:empty', { n: 3 }, { reached: (n) => counts.push(n) });
    assert.deepEqual(counts, [2, 1, 0]);
    await until(() => takePubs(b.c, 'hist:room').length === 1, 5000, 'b got the publication');
    for (const x of [a, b]) x.c.close();
  } finally {
    await srv.close();
  }
});

test('one node with another history store: publications are stored and delivered; no count is claimed', { timeout: 30_000 }, async () => {
  const srv = await startServer({ namespaces, history: new DelegatingHistory() });
  try {
    const a = await connectNative(srv.url, 'a');
    assert.equal((await command(a.c, 'subscribe', { channel: 'hist:room' })).error, undefined);
    const counts: number[] = [];
    const pos = await srv.sb.publish('hist:room', { n: 1 }, { reached: (n) => counts.push(n) });
    assert.equal(pos?.offset, 1);
    const got: { data: unknown; offset?: number }[] = [];
    await until(() => (got.push(...takePubs(a.c, 'hist:room')), got.length === 1), 5000, 'the subscriber got the stored publication');
    assert.deepEqual(got[0], { data: { n: 1 }, offset: 1 });
    assert.deepEqual(counts, [], 'the dispatch was not in step with the publish: no count');
    a.c.close();
  } finally {
    await srv.close();
  }
});
