import { isObject } from './internal/json.js';
import type { Revocation } from './cluster/state.js';
import type { ClientInfo } from './types.js';
import { isRouteOutcome, type RouteOutcome } from './session-router.js';

/**
 * The control plane's wire format: JSON objects with `op`, the sender's node id `from`, and the
 * format version `v`. Version 1 is this one; messages without `v` are version 0 (nodes before the
 * typed control plane) and have the same shapes, so old and new nodes understand each other
 * during a rolling upgrade. A message of a later version, an unknown `op` or a field of the wrong
 * type is dropped (and logged) by the decoder, never cast.
 */
export const CONTROL_VERSION = 1;

export interface Selector {
  readonly user?: string;
  readonly client?: string;
}

export interface NodeInfo {
  readonly uid: string;
  readonly name: string;
  readonly version: string;
  readonly num_clients: number;
  readonly num_users: number;
  readonly num_subs: number;
  readonly num_channels: number;
  readonly uptime: number;
}

export type ControlMessage =
  | { readonly op: 'subscribe'; readonly sel: Selector; readonly channel: string }
  | { readonly op: 'unsubscribe'; readonly sel: Selector; readonly channel: string; readonly code: number; readonly reason: string }
  | { readonly op: 'disconnect'; readonly sel: Selector; readonly code: number; readonly reason: string; readonly whitelist: readonly string[] }
  | { readonly op: 'refresh'; readonly sel: Selector; readonly expireAt?: number; readonly expired?: boolean; readonly info?: unknown }
  | { readonly op: 'presence-update'; readonly channel: string; readonly info: ClientInfo }
  | { readonly op: 'node'; readonly info: NodeInfo }
  | { readonly op: 'survey'; readonly kind: string; readonly id: string; readonly data?: unknown }
  | { readonly op: 'survey-reply'; readonly id: string; readonly to: string; readonly data: unknown }
  /** A request for a session held by node `to` (session-router.ts), and its answer. */
  | { readonly op: 'route'; readonly id: string; readonly to: string; readonly kind: string; readonly session: string; readonly data: string }
  | { readonly op: 'route-reply'; readonly id: string; readonly to: string; readonly outcome: RouteOutcome }
  | { readonly op: 'revoke'; readonly revocation: Revocation };

/** A message with its envelope: who sent it. */
export type ControlEnvelope = ControlMessage & { readonly from: string };

export type Decoded = { readonly ok: true; readonly message: ControlEnvelope } | { readonly ok: false; readonly reason: string; readonly op?: string };

export function encodeControl(message: ControlMessage, from: string): string {
  return JSON.stringify({ v: CONTROL_VERSION, ...message, from });
}

class Malformed extends Error {}

function str(m: Record<string, unknown>, k: string): string {
  const v = m[k];
  if (typeof v !== 'string') throw new Malformed(`${k} must be a string`);
  return v;
}

function optStr(m: Record<string, unknown>, k: string): string | undefined {
  return m[k] === undefined ? undefined : str(m, k);
}

function num(m: Record<string, unknown>, k: string): number {
  const v = m[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Malformed(`${k} must be a number`);
  return v;
}

function selector(m: Record<string, unknown>): Selector {
  const s = m['sel'] ?? {};
  if (!isObject(s)) throw new Malformed('sel must be an object');
  const user = optStr(s, 'user');
  const client = optStr(s, 'client');
  return { ...(user !== undefined ? { user } : {}), ...(client !== undefined ? { client } : {}) };
}

function clientInfo(v: unknown): ClientInfo {
  if (!isObject(v)) throw new Malformed('info must be an object');
  const user = str(v, 'user');
  const client = str(v, 'client');
  const connInfo = optStr(v, 'connInfo');
  const chanInfo = optStr(v, 'chanInfo');
  const rev = v['rev'];
  if (rev !== undefined && !(typeof rev === 'number' && Number.isSafeInteger(rev) && rev >= 0)) throw new Malformed('rev must be a non-negative integer');
  return {
    user,
    client,
    ...(connInfo !== undefined ? { connInfo } : {}),
    ...(chanInfo !== undefined ? { chanInfo } : {}),
    ...(rev !== undefined ? { rev } : {}),
  };
}

function nodeInfo(v: unknown): NodeInfo {
  if (!isObject(v)) throw new Malformed('info must be an object');
  return {
    uid: str(v, 'uid'),
    name: str(v, 'name'),
    version: str(v, 'version'),
    num_clients: num(v, 'num_clients'),
    num_users: num(v, 'num_users'),
    num_subs: num(v, 'num_subs'),
    num_channels: num(v, 'num_channels'),
    uptime: num(v, 'uptime'),
  };
}

function revocation(v: unknown): Revocation {
  if (!isObject(v)) throw new Malformed('revocation must be an object');
  const expireAt = num(v, 'expireAt');
  if (v['kind'] === 'jti') return { kind: 'jti', jti: str(v, 'jti'), expireAt };
  if (v['kind'] === 'user') return { kind: 'user', user: str(v, 'user'), issuedBefore: num(v, 'issuedBefore'), expireAt };
  throw new Malformed('revocation.kind must be jti or user');
}

function body(op: string, m: Record<string, unknown>): ControlMessage {
  switch (op) {
    case 'subscribe':
      return { op, sel: selector(m), channel: str(m, 'channel') };
    case 'unsubscribe':
      return { op, sel: selector(m), channel: str(m, 'channel'), code: num(m, 'code'), reason: str(m, 'reason') };
    case 'disconnect': {
      const w = m['whitelist'] ?? [];
      if (!Array.isArray(w) || !w.every((x) => typeof x === 'string')) throw new Malformed('whitelist must be an array of strings');
      return { op, sel: selector(m), code: num(m, 'code'), reason: str(m, 'reason'), whitelist: w };
    }
    case 'refresh': {
      const expireAt = m['expireAt'] === undefined ? undefined : num(m, 'expireAt');
      const expired = m['expired'];
      if (expired !== undefined && typeof expired !== 'boolean') throw new Malformed('expired must be a boolean');
      return { op, sel: selector(m), ...(expireAt !== undefined ? { expireAt } : {}), ...(expired !== undefined ? { expired } : {}), ...(m['info'] !== undefined ? { info: m['info'] } : {}) };
    }
    case 'presence-update':
      return { op, channel: str(m, 'channel'), info: clientInfo(m['info']) };
    case 'node':
      return { op, info: nodeInfo(m['info']) };
    case 'survey':
      return { op, kind: str(m, 'kind'), id: str(m, 'id'), ...(m['data'] !== undefined ? { data: m['data'] } : {}) };
    case 'survey-reply':
      return { op, id: str(m, 'id'), to: str(m, 'to'), data: m['data'] };
    case 'route':
      return { op, id: str(m, 'id'), to: str(m, 'to'), kind: str(m, 'kind'), session: str(m, 'session'), data: str(m, 'data') };
    case 'route-reply': {
      const outcome = m['outcome'];
      if (!isRouteOutcome(outcome)) throw new Malformed('outcome must be a route outcome');
      return { op, id: str(m, 'id'), to: str(m, 'to'), outcome };
    }
    case 'revoke':
      return { op, revocation: revocation(m['revocation']) };
    default:
      throw new Malformed(`unknown op ${op.slice(0, 64)}`);
  }
}

/** Validate one control message (JSON text). Version 0 (no `v`) and 1 are accepted. */
export function decodeControl(text: string): Decoded {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (!isObject(m)) return { ok: false, reason: 'not an object' };
  const op = m['op'];
  if (typeof op !== 'string') return { ok: false, reason: 'op must be a string' };
  const v = m['v'] ?? 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return { ok: false, reason: 'v must be a non-negative integer', op };
  if (v > CONTROL_VERSION) return { ok: false, reason: `version ${v} is newer than ${CONTROL_VERSION}`, op };
  const from = m['from'];
  if (typeof from !== 'string') return { ok: false, reason: 'from must be a string', op };
  try {
    return { ok: true, message: { ...body(op, m), from } };
  } catch (err) {
    if (err instanceof Malformed) return { ok: false, reason: err.message, op };
    throw err;
  }
}
