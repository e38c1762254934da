// The StateStore contract (cluster/state.ts) on NATS JetStream key-value: two stores with their own
// connections on one prefix are two nodes.
import { test } from 'node:test';
import { stateConformance } from '@switchboard/server/testing';
import { NatsStateStore } from '../src/index.js';
import { dropPrefix, NATS_URL, natsAvailable, testPrefix } from './nats-env.js';

if (!(await natsAvailable())) {
  test('NATS state conformance', (t) => t.skip(`no NATS with JetStream at ${NATS_URL}`));
} else {
  stateConformance('nats', async () => {
    const prefix = testPrefix('state');
    const store = new NatsStateStore({ servers: NATS_URL, prefix });
    const another = new NatsStateStore({ servers: NATS_URL, prefix });
    return {
      store,
      another,
      close: async () => {
        await Promise.all([store.close(), another.close()]);
        await dropPrefix(prefix);
      },
    };
  });
}
