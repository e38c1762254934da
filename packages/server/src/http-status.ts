import { STATUS_CODES } from 'node:http';
import { Disconnects, Errors } from './codes.js';

/** Maps any decline code to an HTTP status for protocols that refuse at the upgrade. */
export function httpStatusOf(code: number): number {
  if (code >= 400 && code < 600) return code;
  if (code === Errors.unauthorized.code || code === Errors.tokenExpired.code || code === Disconnects.invalidToken.code || code === Disconnects.badRequest.code) return 401;
  if (code === Disconnects.connectionLimit.code) return 429;
  return 403;
}

export function httpReason(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

