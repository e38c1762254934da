import type { ControlMessage } from './control-messages.js';
import { newClientId } from './internal/ids.js';
import type { Logger } from './logger.js';

/**
 * What became of a routed request: `ok` (the session took it), `no-session` (the node holds no
 * such session), `bad-request` (the handler refused the data), `unknown-node` (no live node has
 * that id), `timeout` (the node did not answer in time: it may be gone; whether it took the data
 * is unknown), `busy` (the session cannot take more now: inbound backpressure).
 */
export type RouteOutcome = 'ok' | 'no-session' | 'bad-request' | 'unknown-node' | 'timeout' | 'busy';

const OUTCOMES: ReadonlySet<string> = new Set<RouteOutcome>(['ok', 'no-session', 'bad-request', 'unknown-node', 'timeout', 'busy']);

export function isRouteOutcome(v: unknown): v is RouteOutcome {
  return typeof v === 'string' && OUTCOMES.has(v);
}

/** Runs on the node that holds `session`: hands `data` to it. */
export type RouteHandler = (session: string, data: string) => RouteOutcome | Promise<RouteOutcome>;

interface Waiting {
  readonly resolve: (o: RouteOutcome) => void;
  readonly timer: NodeJS.Timeout;
}

export const DEFAULT_ROUTE_TIMEOUT_MS = 5_000;

/**
 * Delivers a request to the node that holds a session, for transports whose client sends each
 * message as a separate HTTP request that any node behind a load balancer may receive (Centrifugo's
 * HTTP-streaming/SSE emulation, Phoenix LongPoll). A session lives on one node; the client names
 * that node (the id it was told when the session began) with every request.
 *
 * - `register(kind, handler)`: this node serves requests of `kind` (one handler per kind) for
 *   the sessions it holds.
 * - `deliver(kind, node, session, data)`: runs the handler at once when `node` is this node;
 *   otherwise sends the request over the control plane to that node alone (every node sees control
 *   messages; only the addressee acts, the others drop it unread) and resolves with the handler's
 *   outcome when its answer comes back, `timeout` when none comes within the timeout. A node id no
 *   live node has (per the node registry: announced within the last 15 s) is `unknown-node`
 *   without sending anything.
 *
 * Delivery is at most once: a request is never sent twice. A request lost on the way (a broker
 * hiccup) ends as `timeout`, and the caller says so to its client, which then reconnects and
 * recovers. Requests from one node to one session keep their order (the broker keeps the order of
 * one node's control messages); requests of one client that reach different nodes race, as they
 * would on one node.
 */
export class SessionRouter {
  readonly #handlers = new Map<string, RouteHandler>();
  readonly #waiting = new Map<string, Waiting>();
  #closed = false;
  /** Routed requests this node handed to local sessions on behalf of other nodes (metrics). */
  routedIn = 0;
  /** Requests this node sent to other nodes (metrics). */
  routedOut = 0;

  constructor(
    readonly nodeId: string,
    readonly send: (m: ControlMessage) => Promise<void>,
    readonly nodeKnown: (id: string) => boolean,
    readonly logger: Logger,
  ) {}

  /** Serve requests of `kind` for sessions of this node. */
  register(kind: string, handler: RouteHandler): void {
    if (this.#handlers.has(kind)) throw new Error(`a route handler for ${kind} is registered already`);
    this.#handlers.set(kind, handler);
  }

  /** Hand `data` to `session` on `node` (this node or another); see the class comment. */
  async deliver(kind: string, node: string, session: string, data: string, opts: { timeoutMs?: number } = {}): Promise<RouteOutcome> {
    if (node === this.nodeId) return this.#local(kind, session, data);
    if (this.#closed || !this.nodeKnown(node)) return 'unknown-node';
    const id = newClientId();
    const timeoutMs = opts.timeoutMs ?? DEFAULT_ROUTE_TIMEOUT_MS;
    const outcome = new Promise<RouteOutcome>((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        resolve('timeout');
      }, timeoutMs);
      this.#waiting.set(id, { resolve, timer });
    });
    this.routedOut++;
    try {
      await this.send({ op: 'route', id, to: node, kind, session, data });
    } catch (err) {
      this.logger.warn({ err }, 'routing a session request failed');
      this.#settle(id, 'timeout');
    }
    return outcome;
  }

  async #local(kind: string, session: string, data: string): Promise<RouteOutcome> {
    const h = this.#handlers.get(kind);
    if (h === undefined) return 'no-session';
    try {
      return await h(session, data);
    } catch (err) {
      this.logger.warn({ err, kind }, 'session request handler failed');
      return 'bad-request';
    }
  }

  #settle(id: string, outcome: RouteOutcome): void {
    const w = this.#waiting.get(id);
    if (w === undefined) return;
    this.#waiting.delete(id);
    clearTimeout(w.timer);
    w.resolve(outcome);
  }

  /** A `route` control message (from any node): served only by its addressee. */
  onRoute(m: { id: string; to: string; kind: string; session: string; data: string; from: string }): void {
    if (m.to !== this.nodeId || this.#closed) return;
    this.routedIn++;
    void this.#local(m.kind, m.session, m.data).then((outcome) =>
      this.send({ op: 'route-reply', id: m.id, to: m.from, outcome }).catch((err: unknown) => this.logger.warn({ err }, 'route reply failed')),
    );
  }

  /** A `route-reply` control message: resolves this node's waiting `deliver`. */
  onRouteReply(m: { id: string; to: string; outcome: RouteOutcome }): void {
    if (m.to !== this.nodeId) return;
    this.#settle(m.id, m.outcome);
  }

  close(): void {
    this.#closed = true;
    for (const [id] of this.#waiting) this.#settle(id, 'timeout');
  }
}
