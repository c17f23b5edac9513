import { AsyncLocalStorage } from 'node:async_hooks';

/** What every log line written while serving a request carries (see logger.ts). */
export const requestContext = new AsyncLocalStorage<{ requestId: string }>();
