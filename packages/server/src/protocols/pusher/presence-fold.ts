import type { ClientInfo } from '../../types.js';
import { frame, memberOf, type Member } from './frames.js';

const q = JSON.stringify;

/**
 * Switchboard presence is per connection; Pusher's is per user. The fold keeps, per presence
 * channel with Pusher subscribers on this node, user → their connections, built from the shared
 * presence store and kept current by the join/leave events every node hears. A join or leave is
 * applied once (the hub hands the same event object to every session) and its frame encoded once.
 */
export class PresenceFold {
  readonly #channels = new Map<string, { users: Map<string, { member: Member; clients: Set<string> }>; holders: number }>();
  #last: { info: ClientInfo; kind: string; out: Buffer | null } | undefined;

  /** Folded members of a presence list (for `subscription_succeeded` and the HTTP API). */
  static fold(list: Iterable<ClientInfo>): Map<string, Member> {
    const out = new Map<string, Member>();
    for (const info of list) {
      const m = memberOf(info);
      if (!out.has(m.key)) out.set(m.key, m);
    }
    return out;
  }

  /** `{"presence":{ids,hash,count}}` for a folded list. */
  static succeededData(members: Map<string, Member>): string {
    const hash: Record<string, unknown> = {};
    for (const [key, m] of members) hash[key] = m.info;
    return q({ presence: { ids: [...members.keys()], hash, count: members.size } });
  }

  /** A Pusher subscriber on this node joined the channel: start (or keep) tracking it from `list`. */
  hold(channel: string, list: Iterable<ClientInfo>): void {
    const c = this.#channels.get(channel);
    if (c) {
      c.holders++;
      return;
    }
    const users = new Map<string, { member: Member; clients: Set<string> }>();
    for (const info of list) {
      const m = memberOf(info);
      const u = users.get(m.key);
      if (u) u.clients.add(info.client);
      else users.set(m.key, { member: m, clients: new Set([info.client]) });
    }
    this.#channels.set(channel, { users, holders: 1 });
  }

  release(channel: string): void {
    const c = this.#channels.get(channel);
    if (c && --c.holders <= 0) this.#channels.delete(channel);
  }

  /** Apply a join/leave once; the `member_added`/`member_removed` frame when a user came or went, else null. */
  change(channel: string, pusherChannel: string, kind: 'join' | 'leave', info: ClientInfo): Buffer | null {
    const last = this.#last;
    if (last !== undefined && last.info === info && last.kind === kind) return last.out;
    const out = this.#apply(channel, pusherChannel, kind, info);
    this.#last = { info, kind, out };
    return out;
  }

  #apply(channel: string, pusherChannel: string, kind: 'join' | 'leave', info: ClientInfo): Buffer | null {
    const c = this.#channels.get(channel);
    if (!c) return null;
    const m = memberOf(info);
    const u = c.users.get(m.key);
    if (kind === 'join') {
      if (u) {
        u.clients.add(info.client);
        return null;
      }
      c.users.set(m.key, { member: m, clients: new Set([info.client]) });
      return Buffer.from(frame('pusher_internal:member_added', pusherChannel, q({ user_id: m.userId, user_info: m.info })));
    }
    if (!u || !u.clients.delete(info.client) || u.clients.size > 0) return null;
    c.users.delete(m.key);
    return Buffer.from(frame('pusher_internal:member_removed', pusherChannel, q({ user_id: u.member.userId })));
  }
}
