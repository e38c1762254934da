import { MemoryBroker, MemoryHistoryStore, MemoryPresenceStore, MemoryStateStore } from '../src/index.js';
import { brokerConformance, historyConformance, presenceConformance, stateConformance } from '../src/testing/index.js';

historyConformance('memory', async () => {
  const store = new MemoryHistoryStore();
  return { store, close: () => store.close() };
});

presenceConformance('memory', async ({ ttlMs }) => {
  const store = new MemoryPresenceStore({ ttlMs });
  return { store, close: () => store.close() };
});

brokerConformance('memory', async () => {
  const history = new MemoryHistoryStore();
  const brokers: MemoryBroker[] = [];
  return {
    history,
    multiNode: false,
    async broker() {
      const b = new MemoryBroker({ history });
      brokers.push(b);
      return b;
    },
    async close() {
      for (const b of brokers) await b.close();
      await history.close();
    },
  };
});

stateConformance('memory', async () => {
  // one process: every node shares the instance
  const store = new MemoryStateStore();
  return { store, another: store, close: () => store.close() };
});
