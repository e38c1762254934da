// Selected through the package's "#websocket" import for Node: centrifuge needs a WebSocket class,
// and Node 20 has no global one. `ws` is the proven implementation.
import WebSocket from 'ws';

export const WebSocketImpl: unknown = WebSocket;
