import protobuf from 'protobufjs';

/**
 * The Centrifugo client protocol v2 schema (`client.proto`, package `centrifugal.centrifuge.protocol`)
 * as a protobufjs JSON descriptor: the messages and field numbers the official SDKs' Protobuf
 * builds encode and decode. Field names are the proto names (snake_case), so decoded commands
 * have the same keys as the JSON protocol's. Fields the server does not use yet are declared all
 * the same, so a command carrying them still decodes.
 */

type Field = [id: number, type: string, rule?: 'repeated' | `map:${string}`];
type Fields = Record<string, Field>;

const messages: Record<string, Fields> = {
  Error: { code: [1, 'uint32'], message: [2, 'string'], temporary: [3, 'bool'] },
  EmulationRequest: { node: [1, 'string'], session: [2, 'string'], data: [3, 'bytes'] },
  Command: {
    id: [1, 'uint32'],
    connect: [4, 'ConnectRequest'],
    subscribe: [5, 'SubscribeRequest'],
    unsubscribe: [6, 'UnsubscribeRequest'],
    publish: [7, 'PublishRequest'],
    presence: [8, 'PresenceRequest'],
    presence_stats: [9, 'PresenceStatsRequest'],
    history: [10, 'HistoryRequest'],
    ping: [11, 'PingRequest'],
    send: [12, 'SendRequest'],
    rpc: [13, 'RPCRequest'],
    refresh: [14, 'RefreshRequest'],
    sub_refresh: [15, 'SubRefreshRequest'],
  },
  Reply: {
    id: [1, 'uint32'],
    error: [2, 'Error'],
    push: [4, 'Push'],
    connect: [5, 'ConnectResult'],
    subscribe: [6, 'SubscribeResult'],
    unsubscribe: [7, 'UnsubscribeResult'],
    publish: [8, 'PublishResult'],
    presence: [9, 'PresenceResult'],
    presence_stats: [10, 'PresenceStatsResult'],
    history: [11, 'HistoryResult'],
    ping: [12, 'PingResult'],
    rpc: [13, 'RPCResult'],
    refresh: [14, 'RefreshResult'],
    sub_refresh: [15, 'SubRefreshResult'],
  },
  Push: {
    id: [1, 'int64'],
    channel: [2, 'string'],
    pub: [4, 'Publication'],
    join: [5, 'Join'],
    leave: [6, 'Leave'],
    unsubscribe: [7, 'Unsubscribe'],
    message: [8, 'Message'],
    subscribe: [9, 'Subscribe'],
    connect: [10, 'Connect'],
    disconnect: [11, 'Disconnect'],
    refresh: [12, 'Refresh'],
  },
  ClientInfo: { user: [1, 'string'], client: [2, 'string'], conn_info: [3, 'bytes'], chan_info: [4, 'bytes'] },
  Publication: {
    data: [4, 'bytes'],
    info: [5, 'ClientInfo'],
    offset: [6, 'uint64'],
    tags: [7, 'string', 'map:string'],
    delta: [8, 'bool'],
    time: [9, 'int64'],
    channel: [10, 'string'],
  },
  Join: { info: [1, 'ClientInfo'] },
  Leave: { info: [1, 'ClientInfo'] },
  Unsubscribe: { code: [2, 'uint32'], reason: [3, 'string'] },
  Subscribe: { recoverable: [1, 'bool'], epoch: [4, 'string'], offset: [5, 'uint64'], positioned: [6, 'bool'], data: [7, 'bytes'] },
  Message: { data: [1, 'bytes'] },
  Connect: {
    client: [1, 'string'],
    version: [2, 'string'],
    data: [3, 'bytes'],
    subs: [4, 'SubscribeResult', 'map:string'],
    expires: [5, 'bool'],
    ttl: [6, 'uint32'],
    ping: [7, 'uint32'],
    pong: [8, 'bool'],
    session: [9, 'string'],
    node: [10, 'string'],
    time: [11, 'int64'],
  },
  Disconnect: { code: [1, 'uint32'], reason: [2, 'string'], reconnect: [3, 'bool'] },
  Refresh: { expires: [1, 'bool'], ttl: [2, 'uint32'] },
  ConnectRequest: {
    token: [1, 'string'],
    data: [2, 'bytes'],
    subs: [3, 'SubscribeRequest', 'map:string'],
    name: [4, 'string'],
    version: [5, 'string'],
    headers: [6, 'string', 'map:string'],
    flag: [7, 'int64'],
  },
  ConnectResult: {
    client: [1, 'string'],
    version: [2, 'string'],
    expires: [3, 'bool'],
    ttl: [4, 'uint32'],
    data: [5, 'bytes'],
    subs: [6, 'SubscribeResult', 'map:string'],
    ping: [7, 'uint32'],
    pong: [8, 'bool'],
    session: [9, 'string'],
    node: [10, 'string'],
    time: [11, 'int64'],
  },
  RefreshRequest: { token: [1, 'string'] },
  RefreshResult: { client: [1, 'string'], version: [2, 'string'], expires: [3, 'bool'], ttl: [4, 'uint32'] },
  SubscribeRequest: {
    channel: [1, 'string'],
    token: [2, 'string'],
    recover: [3, 'bool'],
    epoch: [6, 'string'],
    offset: [7, 'uint64'],
    data: [8, 'bytes'],
    positioned: [9, 'bool'],
    recoverable: [10, 'bool'],
    join_leave: [11, 'bool'],
    delta: [12, 'string'],
    tf: [13, 'FilterNode'],
    flag: [14, 'int64'],
  },
  SubscribeResult: {
    expires: [1, 'bool'],
    ttl: [2, 'uint32'],
    recoverable: [3, 'bool'],
    epoch: [6, 'string'],
    publications: [7, 'Publication', 'repeated'],
    recovered: [8, 'bool'],
    offset: [9, 'uint64'],
    positioned: [10, 'bool'],
    data: [11, 'bytes'],
    was_recovering: [12, 'bool'],
    delta: [13, 'bool'],
    id: [14, 'int64'],
  },
  FilterNode: {
    op: [1, 'string'],
    key: [2, 'string'],
    cmp: [3, 'string'],
    val: [4, 'string'],
    vals: [5, 'string', 'repeated'],
    nodes: [6, 'FilterNode', 'repeated'],
  },
  SubRefreshRequest: { channel: [1, 'string'], token: [2, 'string'] },
  SubRefreshResult: { expires: [1, 'bool'], ttl: [2, 'uint32'] },
  UnsubscribeRequest: { channel: [1, 'string'] },
  UnsubscribeResult: {},
  PublishRequest: { channel: [1, 'string'], data: [2, 'bytes'] },
  PublishResult: {},
  PresenceRequest: { channel: [1, 'string'] },
  PresenceResult: { presence: [1, 'ClientInfo', 'map:string'] },
  PresenceStatsRequest: { channel: [1, 'string'] },
  PresenceStatsResult: { num_clients: [1, 'uint32'], num_users: [2, 'uint32'] },
  StreamPosition: { offset: [1, 'uint64'], epoch: [2, 'string'] },
  HistoryRequest: { channel: [1, 'string'], limit: [7, 'int32'], since: [8, 'StreamPosition'], reverse: [9, 'bool'] },
  HistoryResult: { publications: [1, 'Publication', 'repeated'], epoch: [2, 'string'], offset: [3, 'uint64'] },
  PingRequest: {},
  PingResult: {},
  RPCRequest: { data: [1, 'bytes'], method: [2, 'string'] },
  RPCResult: { data: [1, 'bytes'] },
  SendRequest: { data: [1, 'bytes'] },
};

function descriptor(): protobuf.INamespace {
  const nested: Record<string, protobuf.IType> = {};
  for (const [name, fields] of Object.entries(messages)) {
    const out: Record<string, protobuf.IField & { keyType?: string }> = {};
    for (const [fname, [id, type, rule]] of Object.entries(fields)) {
      if (rule === 'repeated') out[fname] = { id, type, rule: 'repeated' };
      else if (rule !== undefined) out[fname] = { id, type, keyType: rule.slice(4) };
      else out[fname] = { id, type };
    }
    nested[name] = { fields: out };
  }
  return { nested };
}

const root = protobuf.Root.fromJSON(descriptor());

export const Command = root.lookupType('Command');
export const Reply = root.lookupType('Reply');
export const Push = root.lookupType('Push');
export const Publication = root.lookupType('Publication');
export const ClientInfo = root.lookupType('ClientInfo');
export const EmulationRequest = root.lookupType('EmulationRequest');
