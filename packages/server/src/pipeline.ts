import { CommandRateLimiter } from './command-limit.js';
import type { CommandContext, Middleware } from './context.js';

/**
 * The path every client command takes before its handler: the command rate limit (111 / 3013),
 * then the app's middleware, in the order `use` added them, then the command itself.
 */
export class CommandPipeline {
  readonly middleware: Middleware[] = [];
  readonly #limit: CommandRateLimiter | undefined;

  constructor(commandRateLimit: number) {
    this.#limit = commandRateLimit > 0 ? new CommandRateLimiter(commandRateLimit) : undefined;
  }

  /** Run `last` through the node's middleware; `fromClient` commands are rate limited first. */
  async run(ctx: CommandContext, last: () => Promise<void>, fromClient = true): Promise<void> {
    if (fromClient && this.#limit !== undefined && ctx.client !== undefined) this.#limit.check(ctx.client);
    return runChain(this.middleware, ctx, last);
  }
}

/** Koa-style: each middleware gets `next`; calling it twice is an error. */
export async function runChain<C>(chain: readonly ((ctx: C, next: () => Promise<void>) => unknown)[], ctx: C, last: () => Promise<void>): Promise<void> {
  if (chain.length === 0) return last();
  let i = -1;
  const dispatch = async (n: number): Promise<void> => {
    if (n <= i) throw new Error('next() called twice');
    i = n;
    if (n === chain.length) return last();
    await chain[n]!(ctx, () => dispatch(n + 1));
  };
  return dispatch(0);
}
