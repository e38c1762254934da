import { pino, type Logger } from 'pino';

/** Keys whose values never reach a log line. */
const REDACT = [
  'password',
  'secret',
  'key',
  'token',
  '*.password',
  '*.secret',
  '*.key',
  '*.token',
  '*.hmac_secret_key',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  // Node's URL errors carry the URL they could not parse, query secrets included.
  'err.input',
];

/** JSON lines by default; pretty when stdout is a terminal. */
export function createLogger(level: string, pretty = process.stdout.isTTY === true): Logger {
  const options = { level: level === 'none' ? 'silent' : level, redact: { paths: REDACT, censor: '[redacted]' }, base: { pid: process.pid } };
  if (pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(options);
}
