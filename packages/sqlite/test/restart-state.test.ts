// A single node on SQLite killed and started again on the same file: the new process takes over
// what the state in the file holds. With the receiver down, the killed process's 13 undelivered
// webhook events are claimed and delivered by its successor (once the old lease lapses); its
// connection is reported lost; a token revoked before the kill stays revoked after the restart.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SignJWT } from 'jose';
import { waitFor } from '@switchboard/server/testing';
import { WebhookBackend } from '../../server/test/webhook-backend.js';
import { SECRET } from '../../redis/test/cluster.js';
import { SdkClient } from '../../redis/test/sdk.js';
import { freePort, HOOK_SECRET, NODE_TTL_MS, WebhookNode } from '../../redis/test/webhook-nodes.js';

test('SQLite: a node SIGKILLed with undelivered webhook events and a revoked token; its successor on the file delivers the events and keeps the revocation', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-restart-'));
  const env = { WH_ENGINE: 'sqlite', WH_SQLITE_PATH: join(dir, 'node.db') };
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/hooks`;
  const backend = new WebhookBackend(HOOK_SECRET);
  const nodes: WebhookNode[] = [];
  const clients: SdkClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
    if (backend.server.listening) await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const start = async (name: string) => {
    const n = new WebhookNode(name, 'unused', url, env);
    nodes.push(n);
    return n.ready();
  };
  const a = await start('A');
  assert.equal((await a.hookStats()).durable, true, 'the webhook queue is journaled in the file');
  const x1 = await SdkClient.connect(a.ws, 'x1');
  const x2 = await SdkClient.connect(a.ws, 'x2');
  clients.push(x1, x2);
  await x1.subscribe('chat:d1');
  await x1.subscribe('chat:d2');
  await x2.subscribe('chat:d1');
  x2.close();
  await waitFor(async () => (await a.hookStats()).journaled === 13, 20_000, "A's 13 events journaled");
  await a.api('revoke_token', { uid: 'sqlite-jti', expire_at: Math.floor(Date.now() / 1000) + 600 });
  assert.equal((await a.hookStats()).delivered, 0, 'the receiver is down');

  await a.kill('SIGKILL');
  x1.close();
  const b = await start('A2');
  await waitFor(async () => (await b.hookStats()).claimed >= 13, NODE_TTL_MS * 10, "the successor claims A's journal");

  // the revocation survived: a token with that jti is refused (3520) by the new process
  const tok = await new SignJWT({ sub: 'x3', jti: 'sqlite-jti' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().sign(new TextEncoder().encode(SECRET));
  const revoked = new SdkClient(b.ws, tok);
  clients.push(revoked);
  revoked.c.connect();
  await waitFor(() => revoked.disconnects.some((d) => d.code === 3520), 10_000, 'the revoked token refused after the restart');

  await backend.listen(port);
  await waitFor(
    () => backend.unique().filter((e) => e.node === 'A').length === 13 && backend.of('channel_vacated', 'chat:d2').length === 1 && backend.of('disconnect').some((e) => e.user === 'x1'),
    30_000,
    "A's events and the successor's report of x1",
  );
  const lost = backend.of('disconnect').find((e) => e.user === 'x1')!;
  assert.deepEqual([lost.lost, lost.node], [true, 'A2']);
  assert.equal(backend.of('channel_occupied', 'chat:d1').length, 1);
  assert.equal(backend.of('channel_vacated', 'chat:d1').length, 1, 'x1 was the last in chat:d1');
  assert.equal(backend.badSignatures, 0);
  for (const ch of ['chat:d1', 'chat:d2']) {
    const seqs = backend.unique().filter((e) => e.channel === ch && e.node === 'A').map((e) => e.seq!);
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! >= seqs[i - 1]!, `${ch} from A in order`);
  }
});
