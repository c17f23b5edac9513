import type { CORSOptions } from 'graphql-yoga';
import { GatewayError } from '../shared/errors.ts';
import type { Caller } from './caller.ts';

/**
 * An origin as browsers send it (`scheme://host[:port]`, lower case, no default port), or
 * undefined for anything else (a path, credentials, another scheme).
 */
export function normaliseOrigin(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) return undefined;
  return url.origin;
}

/**
 * Whether a request may come from `origin`. Only browsers send an Origin they cannot change;
 * a request without one (a server, curl) is not a browser's and is not refused for it.
 */
export function originAllowed(caller: Pick<Caller, 'allowedOrigins'>, origin: string | null | undefined): boolean {
  return !caller.allowedOrigins || !origin || caller.allowedOrigins.includes(origin);
}

export function originNotAllowed(origin: string): GatewayError {
  return new GatewayError('ORIGIN_NOT_ALLOWED', `This key or token may not be used from ${origin}.`, { origin });
}

/**
 * Over HTTP: a request from a browser on an origin its credential does not list is refused,
 * and CORS answers only the origins the credential lists. A preflight carries no credential:
 * it is answered as before, and what it lets through is then refused by `admit`.
 */
export function createOriginGuard() {
  const callers = new WeakMap<Request, Caller>();
  return {
    admit(request: Request, caller: Caller): void {
      callers.set(request, caller);
      const origin = request.headers.get('origin');
      if (!originAllowed(caller, origin)) throw originNotAllowed(origin!);
    },
    /** graphql-yoga's `cors` option, asked for each response. */
    cors(request: Request): CORSOptions {
      const allowed = callers.get(request)?.allowedOrigins;
      if (!allowed) return {};
      const origin = request.headers.get('origin');
      return origin && allowed.includes(origin) ? { origin: [origin] } : false;
    },
  };
}
