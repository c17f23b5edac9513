import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths that may carry secrets; pino replaces their values before anything is written. */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'apiKey',
  'password',
  'token',
  '*.apiKey',
  '*.password',
  '*.token',
  '*.authorization',
];

// No request id is added from AsyncLocalStorage: on Node 20 any use of it turns on promise hooks
// for the whole process, which measured nearly doubled the time to fan one update out to 10,000
// subscribers (BENCHMARKS.md). Fastify's request logger names the request where there is one.
export function createLogger(level: string, name = 'sms-gateway'): Logger {
  return pino({
    name,
    level,
    redact: { paths: REDACT, censor: '[redacted]' },
  });
}
