/**
 * Channel names used by applications in the seed product's style: query invalidations pushed to
 * `trpc:user:<id>`, `trpc:org:<id>` and `trpc:global`. The builders return literal template types,
 * so a channel schema keyed by `` `trpc:user:${string}` `` types the handler's message.
 */

export interface ChannelBuilders<P extends string> {
  /** `<prefix>:user:<id>`: data for one user (notifications, personal updates). */
  user<I extends string | number>(id: I): `${P}:user:${I}`;
  /** `<prefix>:org:<id>`: organisation-scoped data. */
  org<I extends string | number>(id: I): `${P}:org:${I}`;
  /** `<prefix>:global`: data visible to every user. */
  global(): `${P}:global`;
}

const ID = /^[A-Za-z0-9_\-.=@]+$/;

function checkId(id: string | number): string {
  const s = String(id);
  if (!ID.test(s)) throw new TypeError(`invalid channel id ${JSON.stringify(s)}: use letters, digits and _-.=@`);
  return s;
}

/** Builders for another namespace than `trpc` (`createChannels('app').user(1)` → `app:user:1`). */
export function createChannels<P extends string>(prefix: P): ChannelBuilders<P> {
  checkId(prefix);
  return {
    user: (id) => `${prefix}:user:${checkId(id)}` as never,
    org: (id) => `${prefix}:org:${checkId(id)}` as never,
    global: () => `${prefix}:global`,
  };
}

/** `Channels.user(42)` → `'trpc:user:42'`, `Channels.org('acme')` → `'trpc:org:acme'`, `Channels.global()` → `'trpc:global'`. */
export const Channels: ChannelBuilders<'trpc'> = /*#__PURE__*/ createChannels('trpc');

/** The message the example apps and the seed product publish to make clients refetch. */
export interface QueryInvalidation {
  type: 'query-invalidation';
  queryKey: readonly unknown[];
}

/**
 * The default channel schema of the `trpc` namespace: every channel carries query invalidations.
 * Apps declare their own the same way: a map from channel name (or template) to message type.
 */
export interface TrpcSchema {
  'trpc:global': QueryInvalidation;
  [channel: `trpc:user:${string}`]: QueryInvalidation;
  [channel: `trpc:org:${string}`]: QueryInvalidation;
}

/** A schema that accepts any channel and types messages as `unknown` (the default). */
export type AnySchema = Record<string, unknown>;

/** The channel names a schema accepts. */
export type ChannelOf<S> = keyof S & string;

/** The message type of channel `C` in schema `S`. */
export type MessageOf<S, C extends string> = C extends keyof S ? S[C] : never;
