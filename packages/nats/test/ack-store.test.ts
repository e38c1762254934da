import { test } from 'node:test';
import { ackStoreConformance } from '@switchboard/server/testing';
import { JetStreamAckStore } from '../src/index.js';
import { dropPrefix, NATS_URL, natsAvailable, testPrefix } from './nats-env.js';

if (!(await natsAvailable())) {
  test('NATS ack store conformance', (t) => t.skip(`no NATS at ${NATS_URL}`));
} else {
  ackStoreConformance('nats', async () => {
    const prefix = testPrefix('acks');
    // two instances with their own connections: two nodes
    const store = new JetStreamAckStore({ servers: NATS_URL, prefix });
    const another = new JetStreamAckStore({ servers: NATS_URL, prefix });
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
