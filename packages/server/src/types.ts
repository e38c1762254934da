/** Facts about the client behind a publication, a join or a leave, or a presence entry. */
export interface ClientInfo {
  /** User id; '' for anonymous connections. */
  readonly user: string;
  /** Connection id, unique across nodes. */
  readonly client: string;
  /** Connection info (from the token's `info` claim or the connect handler), as JSON text. */
  readonly connInfo?: string;
  /** Channel info (from the subscription token or the subscribe handler), as JSON text. */
  readonly chanInfo?: string;
  /**
   * Presence revision: how many times this member's presence data was updated in this channel
   * (absent = never). Lets a protocol name each version of an entry (Phoenix's `phx_ref`).
   */
  readonly rev?: number;
}

/** Where a channel's history stream stands: offsets only mean something within their epoch. */
export interface StreamPosition {
  readonly offset: number;
  readonly epoch: string;
}

/**
 * Targeting for event-style messages (PondSocket's broadcastFrom / broadcastTo, replies to one
 * sender). Travels with the publication between nodes; never stored in history.
 */
export interface Delivery {
  /** Skip this client id (broadcast to all but the sender). */
  readonly exceptClient?: string;
  /** Deliver only to connections of these users. */
  readonly toUsers?: readonly string[];
  /** Deliver only to these client ids. */
  readonly toClients?: readonly string[];
  /**
   * Send this publication as a delta to subscribers that negotiated delta compression (the publish
   * API's `delta: true`; namespaces with `deltaPublish` do it for every publication).
   */
  readonly delta?: boolean;
  /** The client whose command caused this publication, and the request id it used (PondSocket echoes it). */
  readonly originClient?: string;
  readonly originRequest?: string;
}

/**
 * Data sent to a channel. `data` is JSON text, kept as text from the moment it enters the
 * server so that it is never parsed or re-serialised per subscriber.
 */
export interface Publication {
  readonly data: string;
  readonly info?: ClientInfo;
  /** Offset in the channel's stream; 0 when the channel keeps no history. */
  readonly offset?: number;
  readonly epoch?: string;
  readonly tags?: Readonly<Record<string, string>>;
  /** Milliseconds since the epoch, when published. */
  readonly time?: number;
  readonly delivery?: Delivery;
}

export interface HistoryOptions {
  /** Publications kept at most. */
  readonly size: number;
  /** How long a publication is kept, ms. */
  readonly ttlMs: number;
  /** How long the stream's epoch and top offset outlive its publications, ms. */
  readonly metaTtlMs?: number;
}

/** Per-protocol traffic counters. */
export interface TrafficCounters {
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
}
