// Two Pusher nodes on one Redis, each with the app's webhook; one in its own process is SIGKILLed.
// Its members get their member_removed and its channels their channel_vacated from the survivor
// once the dead node's lease lapses; the survivor's own members are untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import PusherServer from 'pusher';
import { until } from '../../server/test/helpers.js';
import { APP, next, pusherClient, startPusher, type PusherClient, type PusherTestServer } from '../../server/test/pusher-helpers.js';
import { PusherWebhookBackend } from '../../server/test/pusher-webhook-backend.js';
import { createRedisEngine } from '../src/index.js';
import { dropPrefix, REDIS_ADDRESS, redisAvailable, testPrefix } from './redis-env.js';

const NODE_TTL_MS = 2000;
const LEAVE_DELAY_MS = 200;
const FIXTURE = fileURLToPath(new URL('./pusher-node.ts', import.meta.url));

/** A node in a child process: its port, once it printed it. */
class ChildNode {
  readonly proc: ChildProcess;
  out = '';
  port = 0;
  constructor(name: string, prefix: string, url: string) {
    const env: NodeJS.ProcessEnv = { ...process.env, PN_REDIS: REDIS_ADDRESS, PN_PREFIX: prefix, PN_NAME: name, PN_URL: url, PN_NODE_TTL_MS: String(NODE_TTL_MS), PN_LEAVE_DELAY_MS: String(LEAVE_DELAY_MS) };
    this.proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', FIXTURE], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
  }
  async ready(): Promise<this> {
    await until(
      () => {
        if (this.proc.exitCode !== null) throw new Error(`the child node exited: ${this.out}`);
        const m = /\{"port":(\d+)\}/.exec(this.out);
        if (m) this.port = Number(m[1]);
        return m !== null;
      },
      90_000,
      'the child node to start',
    );
    return this;
  }
  kill(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.proc.once('exit', () => resolve());
      this.proc.kill('SIGKILL');
    });
  }
}

test('pusher webhooks on Redis: a SIGKILLed node’s members get member_removed and its channels channel_vacated, from the survivor', { timeout: 150_000 }, async (t) => {
  if (!(await redisAvailable())) return t.skip(`no Redis at ${REDIS_ADDRESS}`);
  const prefix = testPrefix('pusher-crash');
  const backend = await new PusherWebhookBackend(() => new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1' })).listen();
  const clients: PusherClient[] = [];
  const child = new ChildNode('b', prefix, backend.url);
  let A: PusherTestServer | undefined;
  t.after(async () => {
    for (const c of clients) c.disconnect();
    await child.kill();
    if (A) {
      await A.mount.close(1000);
      await A.close();
    }
    await backend.close();
    await dropPrefix(prefix);
  });
  A = await startPusher(
    { ...createRedisEngine({ addresses: [REDIS_ADDRESS], prefix, presenceTtlMs: 1500 }), name: 'a', cluster: { nodeTtlMs: NODE_TTL_MS } },
    { ...APP, webhookLeaveDelayMs: LEAVE_DELAY_MS, webhooks: [{ url: backend.url, lingerMs: 5 }] },
  );
  await child.ready();
  const join = async (port: number, user: string, channel: string) => {
    const c = pusherClient({ port } as PusherTestServer, { user });
    clients.push(c);
    const ch = c.subscribe(channel);
    await next((cb) => ch.bind('pusher:subscription_succeeded', cb), 10_000, `${user} in ${channel}`);
    return c;
  };
  // alice on the survivor; bob (same channel) and carol (a channel of her own) on the node that dies.
  const alice = await join(A.port, 'alice', 'presence-room');
  const bob = await join(child.port, 'bob', 'presence-room');
  const carol = await join(child.port, 'carol', 'presence-solo');
  await until(() => backend.named('member_added').length === 3 && backend.named('channel_occupied').length === 2, 10_000, 'three members, two channels');

  await child.kill();
  bob.disconnect(); // their node is gone: stop pusher-js retrying it
  carol.disconnect();
  await until(() => backend.named('member_removed').length === 2 && backend.named('channel_vacated').length === 1, NODE_TTL_MS * 15, "the dead node's members removed, its channel vacated");
  assert.deepEqual(backend.named('member_removed').map((e) => `${e.channel} ${e.user_id}`).sort(), ['presence-room bob', 'presence-solo carol']);
  assert.deepEqual(backend.named('channel_vacated').map((e) => e.channel), ['presence-solo']);
  const solo = backend.events.filter((e) => e.channel === 'presence-solo').map((e) => e.name);
  assert.deepEqual(solo, ['channel_occupied', 'member_added', 'member_removed', 'channel_vacated'], 'member_removed before channel_vacated, as a live leave');

  // The survivor's member was not touched: her own leave is what removes her and vacates the room.
  alice.disconnect();
  await until(() => backend.named('member_removed').length === 3 && backend.named('channel_vacated').length === 2, 10_000, 'alice removed, room vacated');
  const room = backend.events.filter((e) => e.channel === 'presence-room').map((e) => `${e.name}${e.user_id ? ` ${e.user_id}` : ''}`);
  assert.equal(room.filter((e) => e === 'channel_occupied').length, 1);
  assert.equal(room.filter((e) => e === 'channel_vacated').length, 1);
  assert.equal(room.at(-1), 'channel_vacated');
  for (const user of ['alice', 'bob']) {
    assert.equal(room.filter((e) => e === `member_added ${user}`).length, 1, `${user} added once`);
    assert.equal(room.filter((e) => e === `member_removed ${user}`).length, 1, `${user} removed once`);
  }
  assert.equal(backend.invalid, 0);
});
