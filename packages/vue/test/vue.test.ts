// The Vue composables in Node against a real server: effect scopes stand in for components
// (a component's setup runs in one, and unmounting stops it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { effectScope, nextTick, ref } from 'vue';
import { startServer, token, until } from '../../server/test/helpers.js';
import { useLiveUpdate, useSubscription, useConnectionState, createRealtimePlugin } from '@switchboard/vue';
import { createRealtime } from '@switchboard/client';

const namespaces = { chat: { allowSubscribeForClient: true, presence: true } };
const opts = { minReconnectDelay: 20, maxReconnectDelay: 200 };

test('useLiveUpdate: reactive connected, one shared connection per url, subscriptions end with their scope', async () => {
  const srv = await startServer({ namespaces });
  const getToken = () => token({ sub: '1' });
  const a = effectScope();
  const b = effectScope();
  try {
    const got: unknown[] = [];
    const liveA = a.run(() => useLiveUpdate(srv.url, { getToken, ...opts }))!;
    const liveB = b.run(() => useLiveUpdate(srv.url, { getToken, ...opts }))!;
    assert.equal(liveA.realtime, liveB.realtime, 'shared per url');
    assert.equal(liveA.connected.value, false);
    a.run(() => liveA.on('chat:a', (m) => got.push(['a', m])));
    b.run(() => liveB.on('chat:a', (m) => got.push(['b', m])));
    b.run(() => liveB.on('chat:b', (m) => got.push(['b2', m])));
    await until(() => liveA.connected.value && srv.sb.counts().subscriptions === 2, 5000, 'connected and subscribed');
    assert.equal(liveB.state.value, 'connected');
    assert.equal(srv.sb.counts().connections, 1, 'no duplicate connection');
    await srv.sb.publish('chat:a', 1);
    await until(() => got.length === 2, 5000, 'both scopes got it');
    // Component A unmounts: its handler goes, the channel stays for B.
    a.stop();
    // A later subscribe on the shared connection marks the end of the window: an unsubscribe from
    // the deferred teardown (one macrotask) would reach the server before it, in order.
    await new Promise((r) => setTimeout(r, 0));
    b.run(() => liveB.on('chat:probe', () => {}));
    await until(async () => (await srv.sb.presenceStats('chat:probe')).numClients === 1, 5000, 'the later subscription');
    assert.equal(srv.sb.counts().subscriptions, 3, 'chat:a and chat:b stay for B, plus the probe');
    await srv.sb.publish('chat:a', 2);
    await until(() => got.length === 3, 5000, 'B still receives');
    assert.deepEqual(got[2], ['b', 2]);
    // Component B unmounts: every subscription ends and the shared connection closes.
    b.stop();
    await until(() => srv.sb.counts().subscriptions === 0 && srv.sb.counts().connections === 0, 5000, 'all gone');
    // A new component gets a fresh connection.
    const c = effectScope();
    const liveC = c.run(() => useLiveUpdate(srv.url, { getToken, ...opts }))!;
    assert.notEqual(liveC.realtime, liveA.realtime);
    c.run(() => liveC.on('chat:c', () => {}));
    await until(() => liveC.connected.value, 5000, 'C connected');
    c.stop();
    await until(() => srv.sb.counts().connections === 0, 5000, 'C gone');
  } finally {
    a.stop();
    b.stop();
    await srv.close();
  }
});

test('useSubscription follows a reactive channel and uses the plugin-provided instance', async () => {
  const srv = await startServer({ namespaces });
  const rt = createRealtime({ url: srv.url, getToken: () => token({ sub: '2' }), ...opts });
  const plugin = createRealtimePlugin(rt);
  assert.equal(plugin.realtime, rt);
  const scope = effectScope();
  try {
    const { ref } = await import('vue');
    const channel = ref<string | null>('chat:one');
    const got: unknown[] = [];
    const state = scope.run(() => {
      useSubscription(channel, (m) => got.push(m), { realtime: rt });
      return useConnectionState(rt);
    })!;
    await until(() => state.value === 'connected' && rt.channels().join() === 'chat:one', 5000, 'subscribed to one');
    channel.value = 'chat:two';
    await nextTick();
    await until(async () => (await srv.sb.presenceStats('chat:two')).numClients === 1 && (await srv.sb.presenceStats('chat:one')).numClients === 0, 5000, 'moved to two');
    assert.deepEqual(rt.channels(), ['chat:two']);
    await srv.sb.publish('chat:two', 'x');
    await until(() => got.length === 1, 5000, 'message on two');
    channel.value = null;
    await nextTick();
    await until(() => srv.sb.counts().subscriptions === 0, 5000, 'null: unsubscribed');
    scope.stop();
  } finally {
    scope.stop();
    rt.close();
    await srv.close();
  }
});

test('useLiveUpdate with a url ref: a changed url moves the subscriptions and the state to the new server', async () => {
  const a = await startServer({ namespaces });
  const b = await startServer({ namespaces });
  const getToken = () => token({ sub: '1' });
  const scope = effectScope();
  try {
    const url = ref(a.url);
    const got: unknown[] = [];
    const live = scope.run(() => useLiveUpdate(url, { getToken, ...opts }))!;
    scope.run(() => live.on('chat:room', (m) => got.push(m)));
    await until(() => live.connected.value && a.sb.counts().subscriptions === 1, 5000, 'subscribed on the first server');
    const first = live.realtime;
    url.value = b.url;
    await nextTick();
    assert.notEqual(live.realtime, first, 'a new instance for the new url');
    await until(() => b.sb.counts().subscriptions === 1 && live.state.value === 'connected', 5000, 'moved to the second server');
    await until(() => a.sb.counts().connections === 0, 5000, 'the old instance closed');
    assert.ok(first.closed);
    await a.sb.publish('chat:room', 'stale');
    await b.sb.publish('chat:room', 'fresh');
    await until(() => got.length === 1, 5000, 'delivered from the new server');
    assert.deepEqual(got, ['fresh']);
    scope.stop();
    await until(() => b.sb.counts().connections === 0, 5000, 'closed with the scope');
  } finally {
    scope.stop();
    await a.close();
    await b.close();
  }
});
