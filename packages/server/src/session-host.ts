import type { Authenticator } from './authenticator.js';
import type { Commands } from './commands.js';
import type { Connection } from './connection.js';
import type { Hub } from './hub.js';
import type { Maintenance } from './maintenance.js';
import type { NodeContext } from './node-context.js';
import type { SessionConnection, SessionHost } from './protocol.js';
import type { SubscribeFlow } from './subscribe-flow.js';
import type { Subscription } from './subscription.js';

/**
 * The node's side of the SessionHost contract, bridging to the part that owns each operation.
 * Sessions only ever hold connections the node created, so a SessionConnection here is a Connection.
 */
export function createSessionHost(ctx: NodeContext, hub: Hub, auth: Authenticator, flow: SubscribeFlow, commands: Commands, maintenance: Maintenance): SessionHost {
  const c = (conn: SessionConnection) => conn as Connection;
  return {
    logger: ctx.logger,
    get pingIntervalMs() {
      return maintenance.pingIntervalMs;
    },
    get hasMessageHandler() {
      return ctx.events.has('message');
    },
    get serverRefresh() {
      return maintenance.onRefresh !== undefined;
    },
    reportError: (err, conn) => hub.reportError(err, conn === undefined ? undefined : c(conn)),
    countError: (code) => hub.countError(code),
    authenticate: (input) => auth.authenticate(input),
    register: (conn, creds, recover) => flow.register(c(conn), creds, recover),
    subscribe: (conn, req) => flow.subscribe(c(conn), req),
    unsubscribe: (conn, channel) => commands.unsubscribe(c(conn), channel),
    dropSubscription: (sub) => hub.removeSubscription(sub as Subscription<Connection>, true),
    publish: (conn, channel, data, requestId) => commands.publish(c(conn), channel, data, requestId),
    event: (conn, channel, event, payload, requestId) => commands.event(c(conn), channel, event, payload, requestId),
    presence: (conn, channel) => commands.presence(c(conn), channel),
    presenceStats: (conn, channel) => commands.presenceStats(c(conn), channel),
    history: (conn, channel, opts) => commands.history(c(conn), channel, opts),
    rpc: (conn, method, data) => commands.rpc(c(conn), method, data),
    message: (conn, data) => commands.message(c(conn), data),
    refreshConnection: (conn, token) => auth.refreshConnection(c(conn), token),
    refreshSubscription: (conn, channel, token) => auth.refreshSubscription(c(conn), channel, token),
    presenceList: (channel) => ctx.presence.get(channel),
  };
}
