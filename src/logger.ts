import { pino, type Logger } from 'pino';
import { requestContext } from './request-context.ts';

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

export function createLogger(level: string, name = 'sms-gateway'): Logger {
  return pino({
    name,
    level,
    redact: { paths: REDACT, censor: '[redacted]' },
    mixin: () => {
      const store = requestContext.getStore();
      return store ? { requestId: store.requestId } : {};
    },
  });
}
