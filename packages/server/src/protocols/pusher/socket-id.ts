/**
 * Pusher's `socket_id` ("<digits>.<digits>", checked by the official server libraries) is a
 * reversible spelling of the connection's client id (a UUID): the two 64-bit halves in decimal.
 * Any node can turn a `socket_id` from the HTTP API back into the client id to exclude.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const SOCKET_ID = /^\d{1,20}\.\d{1,20}$/;

export function socketIdOf(clientId: string): string {
  if (!UUID.test(clientId)) throw new Error(`not a UUID client id: ${clientId}`);
  const hex = clientId.replaceAll('-', '');
  return `${BigInt(`0x${hex.slice(0, 16)}`)}.${BigInt(`0x${hex.slice(16)}`)}`;
}

/** The client id behind a socket id; undefined when it is not one of ours. */
export function clientIdOf(socketId: string): string | undefined {
  if (!SOCKET_ID.test(socketId)) return undefined;
  const [a, b] = socketId.split('.') as [string, string];
  const hi = BigInt(a);
  const lo = BigInt(b);
  if (hi >= 1n << 64n || lo >= 1n << 64n) return undefined;
  const hex = hi.toString(16).padStart(16, '0') + lo.toString(16).padStart(16, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
