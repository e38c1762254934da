// Selected through the package's "#websocket" import in browsers (and any runtime with a global
// WebSocket): centrifuge uses the global class when given none, so nothing is bundled here.
export const WebSocketImpl: unknown = undefined;
