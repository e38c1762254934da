import { test } from 'node:test';
import { brokerConformance, historyConformance, presenceConformance } from '@switchboard/server/testing';
import { JetStreamHistoryStore, JetStreamPresenceStore, NatsBroker, NatsLink } from '../src/index.js';
import { dropPrefix, NATS_URL, natsAvailable, testPrefix } from './nats-env.js';

const available = await natsAvailable();
if (!available) {
  test('NATS conformance', (t) => t.skip(`no NATS with JetStream at ${NATS_URL}`));
} else {
  const prefixes: string[] = [];
  // one prefix per test: each gets its own stream and bucket (a presence bucket's max age is its TTL)
  const prefix = () => {
    const p = testPrefix('conf');
    prefixes.push(p);
    return p;
  };
  const servers = NATS_URL;

  historyConformance('nats jetstream', async () => {
    const p = prefix();
    const made: JetStreamHistoryStore[] = [];
    const make = async () => {
      const s = new JetStreamHistoryStore({ servers, prefix: p });
      made.push(s);
      return s;
    };
    const store = await make();
    return { store, another: make, close: async () => void (await Promise.all(made.map((s) => s.close()))) };
  });

  presenceConformance('nats jetstream', async ({ ttlMs }) => {
    const p = prefix();
    const made: JetStreamPresenceStore[] = [];
    const make = async () => {
      const s = new JetStreamPresenceStore({ servers, prefix: p, ttlMs });
      made.push(s);
      return s;
    };
    const store = await make();
    return { store, another: make, close: async () => void (await Promise.all(made.map((s) => s.close()))) };
  });

  brokerConformance('nats', async () => {
    // each broker is a node with its own connection, as in separate processes
    const p = prefix();
    const brokers: NatsBroker[] = [];
    const stores: JetStreamHistoryStore[] = [];
    const history = new JetStreamHistoryStore({ servers, prefix: p });
    return {
      history,
      multiNode: true,
      async broker() {
        const link = new NatsLink({ servers, prefix: p });
        const h = new JetStreamHistoryStore({ link });
        const b = new NatsBroker({ link, history: h });
        brokers.push(b);
        stores.push(h);
        return b;
      },
      async close() {
        await Promise.all([...brokers, ...stores, history].map((x) => x.close()));
      },
    };
  });

  test.after(async () => {
    for (const p of prefixes) await dropPrefix(p);
  });
}
