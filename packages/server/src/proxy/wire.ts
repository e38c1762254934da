/**
 * Centrifugo's proxy responses, checked field by field. Anything that is not the documented shape
 * (a string where a number belongs, base64 that does not decode, info that is not JSON) is a
 * `malformed` failure: the client gets an internal error and the reason is logged, never a crash.
 * Values are in their JSON form here: `info`, `data` and `meta` are JSON values (HTTP) or were
 * parsed from their bytes (GRPC) by the caller.
 */
import { isObject } from '../internal/json.js';
import { ProxyCallError } from './types.js';

export interface ProxyErrorValue {
  code: number;
  message: string;
  temporary: boolean;
}

export interface ProxyDisconnectValue {
  code: number;
  reason: string;
}

/** A decoded response: at most one of the three matters (disconnect first, then error). */
export interface ProxyReply {
  result: Record<string, unknown> | undefined;
  error: ProxyErrorValue | undefined;
  disconnect: ProxyDisconnectValue | undefined;
}

function bad(what: string): never {
  throw new ProxyCallError('malformed', `malformed proxy response: ${what}`);
}

export function decodeReply(v: unknown): ProxyReply {
  if (!isObject(v)) bad('not a JSON object');
  const result = optObject(v['result'], 'result');
  const e = optObject(v['error'], 'error');
  const d = optObject(v['disconnect'], 'disconnect');
  const error = e && {
    code: uint32(e['code'], 'error.code') ?? bad('error.code is required'),
    message: optString(e['message'], 'error.message') ?? '',
    temporary: optBool(e['temporary'], 'error.temporary') ?? false,
  };
  const disconnect = d && {
    code: uint32(d['code'], 'disconnect.code') ?? bad('disconnect.code is required'),
    reason: optString(d['reason'], 'disconnect.reason') ?? '',
  };
  return { result, error, disconnect };
}

export function optObject(v: unknown, what: string): Record<string, unknown> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) bad(`${what} must be an object`);
  return v;
}

export function optString(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') bad(`${what} must be a string`);
  return v;
}

export function optBool(v: unknown, what: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') bad(`${what} must be a boolean`);
  return v;
}

/** An integer; int64 fields may arrive as decimal strings (protobuf's JSON mapping). */
export function optInt(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) bad(`${what} must be an integer`);
  return n;
}

function uint32(v: unknown, what: string): number | undefined {
  const n = optInt(v, what);
  if (n !== undefined && (n < 0 || n > 0xffffffff)) bad(`${what} must be a uint32`);
  return n;
}

export function optStrings(v: unknown, what: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) bad(`${what} must be an array of strings`);
  return v as string[];
}

/**
 * A payload field pair (`info`/`b64info`, `data`/`b64data`) as JSON text, or undefined when
 * neither is set. Base64 wins (as in Centrifugo); what it decodes to must be JSON text, since the
 * client protocols here are JSON.
 */
export function payload(r: Record<string, unknown>, field: string, where: string): string | undefined {
  const b64 = optString(r[`b64${field}`], `${where}.b64${field}`);
  if (b64 !== undefined && b64 !== '') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) bad(`${where}.b64${field} is not base64`);
    const text = Buffer.from(b64, 'base64').toString('utf8');
    try {
      JSON.parse(text);
    } catch {
      bad(`${where}.b64${field} does not decode to JSON (the client protocols here are JSON)`);
    }
    return text;
  }
  const v = r[field];
  if (v === undefined || v === null) return undefined;
  return JSON.stringify(v);
}

/** `override` of a subscribe result or of a connect result's `subs` entry: `{ presence: { value: true } }`. */
export function override(v: unknown, where: string): Record<string, boolean> | undefined {
  const o = optObject(v, where);
  if (o === undefined) return undefined;
  const out: Record<string, boolean> = {};
  const keys: [string, string][] = [
    ['presence', 'presence'],
    ['join_leave', 'joinLeave'],
    ['force_push_join_leave', 'forcePushJoinLeave'],
    ['force_recovery', 'forceRecovery'],
    ['force_positioning', 'forcePositioning'],
  ];
  for (const [wire, name] of keys) {
    const b = optObject(o[wire], `${where}.${wire}`);
    if (b === undefined) continue;
    out[name] = optBool(b['value'], `${where}.${wire}.value`) ?? false;
  }
  return out;
}
