import { MemoryAckStore } from '../src/index.js';
import { ackStoreConformance } from '../src/testing/index.js';

ackStoreConformance('memory', async () => {
  // one process: every node shares the instance
  const store = new MemoryAckStore();
  return { store, another: store, close: () => store.close() };
});
