import { Disconnects, Errors } from './codes.js';

/** Maps any decline code to an HTTP status for protocols that refuse at the upgrade. */
export function httpStatusOf(code: number): number {
  if (code >= 400 && code < 600) return code;
  if (code === Errors.unauthorized.code || code === Errors.tokenExpired.code || code === Disconnects.invalidToken.code || code === Disconnects.badRequest.code) return 401;
  if (code === Disconnects.connectionLimit.code) return 429;
  return 403;
}

export function httpReason(status: number): string {
  const reasons: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
    503: 'Service Unavailable',
  };
  return reasons[status] ?? 'Error';
}

