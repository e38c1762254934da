// The typed control plane on Redis: one node publishes malformed, unknown and future-version
// control messages; the other drops and logs each, keeps applying valid ones (including the
// version-0 format of nodes before the typed control plane), and keeps serving its clients.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createSwitchboard } from '@switchboard/server';
import { controlPlaneScenario, RecordingLogger, waitFor } from '@switchboard/server/testing';
import { createRedisEngine } from '../src/index.js';
import { SECRET } from './cluster.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';
import { SdkClient } from './sdk.js';

test('control plane (Redis): bad control messages are dropped and logged on the other node, which keeps serving', async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('control');
  const log = new RecordingLogger();
  const mk = (name: string, logger?: RecordingLogger) =>
    createSwitchboard({
      ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix }),
      name,
      token: { hmacSecret: SECRET },
      namespaces: { chat: { allowSubscribeForClient: true } },
      ...(logger ? { logger } : {}),
    });
  const a = mk('A');
  const b = mk('B', log);
  const http = createServer();
  b.attach(http, '/connection/websocket');
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/connection/websocket`;
  let client: SdkClient | undefined;
  t.after(async () => {
    client?.close();
    await a.shutdown({ timeoutMs: 500 });
    await b.shutdown({ timeoutMs: 500 });
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
    await dropPrefix(prefix);
  });
  client = await SdkClient.connect(url, 'bob');
  await client.subscribe('chat:ctl');
  await controlPlaneScenario(a, b, log, 'redis');
  // Node B still serves: a publication from node A reaches B's client.
  await a.publish('chat:ctl', { after: 'bad control messages' });
  await waitFor(() => client.pubs('chat:ctl').length === 1, 5000, "B's client gets the publication");
  assert.deepEqual(client.pubs('chat:ctl')[0]!.data, { after: 'bad control messages' });
  assert.equal(client.state, 'connected');
});
