import type { ChannelOptions, RoutePattern } from './channels.js';
import type { EventContext, RouteMiddleware, SubscribeContext } from './context.js';

/** Routes: a channel pattern with its options and handlers. */
export class Route {
  readonly events = new Map<string, (ctx: EventContext) => unknown>();
  readonly middleware: RouteMiddleware[] = [];
  constructor(
    readonly pattern: RoutePattern,
    readonly options: ChannelOptions,
    readonly join: ((ctx: SubscribeContext) => unknown) | undefined,
  ) {}

  /** Handle a named client event on this route's channels (`*` catches every event). */
  on(event: string, handler: (ctx: EventContext) => unknown): this {
    this.events.set(event, handler);
    return this;
  }

  /** Middleware around this route's joins and events (e.g. a rate limit). */
  use(mw: RouteMiddleware): this {
    this.middleware.push(mw);
    return this;
  }
}

