import { checkChannelName } from './channels.js';
import { Disconnects, type DisconnectValue, Errors, ReplyError, Unsubscribes } from './codes.js';
import type { ControlMessage, NodeInfo } from './control-messages.js';
import type { Hub } from './hub.js';
import { globToRegExp } from './internal/glob.js';
import type { NodeContext } from './node-context.js';
import type { NodeRegistry } from './node-registry.js';
import type { UserSelector } from './options.js';
import type { Lifecycle, UserStatus } from './cluster/lifecycle.js';
import { localPage, mergePages, type ConnectionEntry, type ConnectionPage, type ConnectionQuery } from './cluster/connections.js';
import type { Revocation, StateStore } from './cluster/state.js';

/** What the server-side operations need from the facade (it owns the start sequence and publishing). */
export interface ServerOpsDeps {
  start(): Promise<void>;
  send(m: ControlMessage): Promise<void>;
  publish(channel: string, data: unknown, options: { skipHistory?: boolean }): Promise<unknown>;
  stateStore: StateStore;
  lifecycle: Lifecycle;
  nodes: NodeRegistry;
}

/**
 * Server-side operations that act on every node of the cluster (docs/design.md §3): subscribe,
 * unsubscribe, disconnect and refresh users, evict, revoke tokens, user status, and the
 * cluster-wide queries (connections, channels, nodes). Each checks its input (coded `ReplyError`)
 * and goes through the control plane or a survey; the facade (`Switchboard`) delegates here.
 */
export class ServerOps {
  readonly #ctx: NodeContext;
  readonly #deps: ServerOpsDeps;

  constructor(ctx: NodeContext, hub: Hub, deps: ServerOpsDeps) {
    this.#ctx = ctx;
    this.#deps = deps;
    // This node's answer to a cluster-wide connections query.
    deps.nodes.surveyHandlers.set('connections', (q) => {
      const query = (q ?? {}) as ConnectionQuery;
      const user = query.filter?.user;
      const conns = user !== undefined ? (hub.users.get(user) ?? (user === '' ? hub.connections.values() : [])) : hub.connections.values();
      return localPage(conns, ctx.name, query);
    });
  }

  async send(m: ControlMessage): Promise<void> {
    await this.#deps.start();
    await this.#deps.send(m);
  }

  async subscribeUser(sel: UserSelector, channel: string): Promise<void> {
    if (!checkChannelName(channel)) throw new ReplyError(Errors.badRequest, 'bad channel name');
    if (!this.#ctx.registry.resolve(channel)) throw new ReplyError(Errors.unknownChannel);
    await this.send({ op: 'subscribe', sel, channel });
  }

  async unsubscribeUser(sel: UserSelector, channel: string, reason: { code: number; reason: string } = Unsubscribes.server): Promise<void> {
    await this.send({ op: 'unsubscribe', sel, channel, code: reason.code, reason: reason.reason });
  }

  async disconnectUser(sel: UserSelector, d: DisconnectValue = Disconnects.forceNoReconnect, whitelist: string[] = []): Promise<void> {
    await this.send({ op: 'disconnect', sel, code: d.code, reason: d.reason, whitelist });
  }

  async refreshUser(sel: UserSelector, opts: { expireAt?: number; expired?: boolean; info?: unknown }): Promise<void> {
    await this.send({ op: 'refresh', sel, ...opts });
  }

  async evict(channel: string, user: string, reason = 'evicted'): Promise<void> {
    await this.unsubscribeUser({ user }, channel, { code: 2000, reason });
    // The remaining members learn who was evicted (PondSocket's `kicked` event).
    await this.#deps.publish(channel, { event: 'kicked', payload: { userId: user, reason } }, { skipHistory: true });
  }

  async revokeToken(jti: string, expireAt: number): Promise<void> {
    if (typeof jti !== 'string' || jti === '') throw new ReplyError(Errors.badRequest, 'jti must be a non-empty string');
    await this.#revoke({ kind: 'jti', jti, expireAt });
  }

  async invalidateUserTokens(user: string, issuedBefore: number, expireAt: number): Promise<void> {
    if (typeof user !== 'string' || user === '') throw new ReplyError(Errors.badRequest, 'user must be a non-empty string');
    await this.#revoke({ kind: 'user', user, issuedBefore, expireAt });
  }

  async #revoke(r: Revocation): Promise<void> {
    if (!Number.isFinite(r.expireAt) || r.expireAt <= Date.now()) throw new ReplyError(Errors.badRequest, 'expire_at must be in the future');
    await this.#deps.start();
    await this.#deps.stateStore.revoke(r);
    await this.send({ op: 'revoke', revocation: r });
  }

  async userStatus(users: readonly string[]): Promise<UserStatus[]> {
    if (!this.#ctx.options.userStatus) throw new ReplyError(Errors.notAvailable.code, 'user status is not enabled (options.userStatus)');
    await this.#deps.start();
    return this.#deps.lifecycle.statuses(users);
  }

  async connectionsQuery(query: ConnectionQuery = {}): Promise<ConnectionPage> {
    await this.#deps.start();
    const replies = await this.#deps.nodes.survey('connections', 3_000, query);
    return mergePages(replies.filter((r): r is ConnectionEntry[] => Array.isArray(r)), query);
  }

  async info(): Promise<{ nodes: NodeInfo[] }> {
    await this.#deps.start();
    return { nodes: this.#deps.nodes.nodes() };
  }

  async channels(pattern?: string): Promise<Map<string, number>> {
    await this.#deps.start();
    const replies = await this.#deps.nodes.survey('channels');
    const out = new Map<string, number>();
    const re = pattern ? globToRegExp(pattern) : undefined;
    for (const r of replies) {
      for (const [ch, n] of Object.entries((r ?? {}) as Record<string, number>)) {
        if (re && !re.test(ch)) continue;
        out.set(ch, (out.get(ch) ?? 0) + n);
      }
    }
    return out;
  }
}
