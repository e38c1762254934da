import { Disconnects } from './codes.js';
import { type ControlEnvelope, type ControlMessage, decodeControl, encodeControl } from './control-messages.js';
import type { Hub } from './hub.js';
import type { NodeContext } from './node-context.js';
import type { NodeRegistry } from './node-registry.js';
import type { SessionRouter } from './session-router.js';
import type { Revocation } from './cluster/state.js';
import type { SubscribeFlow } from './subscribe-flow.js';

/**
 * The control plane: cross-node operations (subscribe, unsubscribe, disconnect and refresh a
 * user's connections, presence updates) and the node registry's announcements and surveys, as
 * typed messages over the broker's control channel. Every message is validated on arrival; an
 * invalid one is logged and dropped (`dropped` counts them), and the node keeps serving.
 */
export class ControlPlane {
  /** Control messages dropped as malformed, unknown or of a later version. */
  dropped = 0;
  registry!: NodeRegistry;
  router!: SessionRouter;
  /** A token revocation from any node (cluster/lifecycle.ts applies it). */
  onRevoke: ((r: Revocation) => void) | undefined;

  constructor(
    readonly ctx: NodeContext,
    readonly hub: Hub,
    readonly subscribe: SubscribeFlow,
  ) {}

  send(message: ControlMessage): Promise<void> {
    return this.ctx.broker.publishControl(encodeControl(message, this.ctx.id));
  }

  /** A control message from the broker (any node, this one included). */
  handle(text: string): void {
    const d = decodeControl(text);
    if (!d.ok) {
      this.dropped++;
      this.ctx.logger.warn({ reason: d.reason, op: d.op, bytes: text.length }, 'control message dropped');
      return;
    }
    this.#apply(d.message);
  }

  #apply(m: ControlEnvelope): void {
    const hub = this.hub;
    switch (m.op) {
      case 'subscribe':
        for (const conn of hub.matching(m.sel)) void this.subscribe.serverSubscribe(conn, m.channel);
        return;
      case 'unsubscribe':
        for (const conn of hub.matching(m.sel)) {
          const sub = conn.subscriptions.get(m.channel);
          if (!sub) continue;
          hub.removeSubscription(sub, true);
          conn.session.pushUnsubscribed(sub.channel, m.code, m.reason);
        }
        return;
      case 'disconnect': {
        const white = new Set(m.whitelist);
        for (const conn of hub.matching(m.sel)) if (!white.has(conn.id)) conn.close({ code: m.code, reason: m.reason });
        return;
      }
      case 'refresh':
        for (const conn of hub.matching(m.sel)) {
          if (m.expired === true) conn.close(Disconnects.expired);
          else if (m.expireAt !== undefined) conn.expireAt = m.expireAt * 1000;
          if (m.info !== undefined) conn.info = JSON.stringify(m.info);
        }
        return;
      case 'presence-update':
        hub.onPresenceUpdate(m.channel, m.info);
        return;
      case 'node':
        this.registry.onNode(m.info);
        return;
      case 'revoke':
        this.onRevoke?.(m.revocation);
        return;
      case 'survey':
        void this.registry.onSurvey(m.kind, m.id, m.from, m.data).catch((err: unknown) => this.ctx.logger.warn({ err }, 'survey reply failed'));
        return;
      case 'survey-reply':
        this.registry.onSurveyReply(m.id, m.to, m.from, m.data);
        return;
      case 'route':
        this.router.onRoute(m);
        return;
      case 'route-reply':
        this.router.onRouteReply(m);
        return;
    }
  }
}
