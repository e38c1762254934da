import type { ClientInfo } from '../types.js';

/** A JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * ClientInfo as every protocol writes it: `user` and `client` always, `conn_info`/`chan_info` as the
 * JSON text the server already holds (never re-serialised).
 */
export function encodeClientInfo(info: ClientInfo): string {
  let s = `{"user":${JSON.stringify(info.user)},"client":${JSON.stringify(info.client)}`;
  if (info.connInfo !== undefined) s += `,"conn_info":${info.connInfo}`;
  if (info.chanInfo !== undefined) s += `,"chan_info":${info.chanInfo}`;
  return s + '}';
}

/** JSON text to a value; undefined when absent or not JSON. */
export function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
