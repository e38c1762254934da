import type { ResolvedChannel } from './channels.js';
import type { ChannelPositions } from './patterns.js';
import type { TagsPredicate } from './tags-filter.js';
import type { ClientInfo, Publication } from './types.js';

/** What a subscription needs of its connection: who it is, for presence and publication info. */
export interface Subscriber {
  readonly id: string;
  readonly user: string;
  clientInfo(chanInfo?: string): ClientInfo;
}

/**
 * One client's subscription to one channel on this node. `C` is the connection type: the core
 * holds `Subscription<Connection>`, sessions see `Subscription` (only the `Subscriber` facts).
 */
export class Subscription<C extends Subscriber = Subscriber> {
  /** False while the subscribe is in progress: publications wait in `buffer` until the reply went out. */
  active = false;
  buffer: Publication[] | undefined = [];
  /** Last offset delivered (or the position the client recovered to). */
  offset = 0;
  epoch = '';
  positioned = false;
  recoverable = false;
  joinLeave = false;
  presence = false;
  serverSide = false;
  chanInfo: string | undefined;
  /** Presence revision (ClientInfo.rev): bumped by each presence update. */
  presenceRev = 0;
  /** Subscription token expiry, ms since the epoch; 0: none. */
  expireAt = 0;
  /** Refreshed by the server at expiry (`onSubRefresh`), not by the client with a token. */
  serverRefresh = false;
  /** Publications were dropped for this subscriber (slow-consumer policy): it must resync. */
  lagged = false;
  /** Publications dropped or superseded (latest-only) for this subscriber since it was last told. */
  skipped = 0;
  /** Acknowledged delivery (namespace `acknowledge`): what is delivered is pending until acked. */
  acked = false;
  /** Its consumer in the ack store (acks.ts `consumerKey`): the user, or the user and the `ackClient` it named. */
  ackConsumer = '';
  /** A pattern subscription (`channel` is the pattern): the prefix it matches. */
  pattern: string | undefined;
  /** A pattern subscription's position per matched channel. */
  positions: ChannelPositions | undefined;
  /** The client negotiated fossil delta compression for this subscription. */
  delta = false;
  /**
   * Delta compression: the data (JSON text) of the last publication this subscriber was sent on
   * this channel, which the client holds as the base of the next delta; undefined: the next one
   * goes full.
   */
  deltaBase: string | undefined;
  /** Channel compaction: pushes carry this numeric id instead of the channel name. */
  compactId: number | undefined;
  /** Only publications whose tags match are delivered (the client's tags filter). */
  tagsFilter: TagsPredicate | undefined;
  /** Assigns set by a join handler for this channel. */
  readonly assigns: Record<string, unknown> = {};

  constructor(
    readonly conn: C,
    readonly channel: string,
    readonly resolved: ResolvedChannel<unknown>,
  ) {}

  info(): ClientInfo {
    const info = this.conn.clientInfo(this.chanInfo);
    return this.presenceRev === 0 ? info : { ...info, rev: this.presenceRev };
  }
}
