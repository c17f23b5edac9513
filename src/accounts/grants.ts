import { GatewayError } from '../shared/errors.ts';
import { isScope, type Scope } from './api-keys.ts';
import type { Caller } from './caller.ts';
import { normaliseOrigin } from './origins.ts';

/**
 * What a key may put into a key or token it makes: never more than it has itself, in scopes,
 * origins or lifetime. Asking for more is refused, never quietly narrowed.
 */

export function grantedScopes(caller: Caller, requested: readonly string[]): Scope[] {
  const unknown = requested.filter((scope) => !isScope(scope));
  if (unknown.length > 0) {
    throw new GatewayError('BAD_USER_INPUT', `Unknown scope ${unknown.map((s) => `"${s}"`).join(', ')}: scopes are send, read and admin.`, {
      argument: 'scopes',
    });
  }
  if (requested.length === 0) throw new GatewayError('BAD_USER_INPUT', 'Name at least one scope.', { argument: 'scopes' });
  const beyond = requested.filter((scope) => !caller.scopes.includes(scope as Scope));
  if (beyond.length > 0) {
    throw new GatewayError('INSUFFICIENT_PERMISSIONS', `This key does not hold ${beyond.join(', ')}, so it cannot grant it.`, {
      argument: 'scopes',
      scopes: caller.scopes,
    });
  }
  return [...new Set(requested as Scope[])];
}

/** The origins asked for, normalised; none asked for: the caller's own (null: any). */
export function grantedOrigins(caller: Caller, requested: readonly string[] | null | undefined): string[] | null {
  const own = caller.allowedOrigins ?? null;
  if (requested == null) return own ? [...own] : null;
  if (requested.length === 0) {
    throw new GatewayError('BAD_USER_INPUT', 'allowedOrigins: name at least one origin, or leave it out to allow what this key allows.', {
      argument: 'allowedOrigins',
    });
  }
  const origins = requested.map((text) => {
    const origin = normaliseOrigin(text);
    if (!origin) {
      throw new GatewayError('BAD_USER_INPUT', `allowedOrigins: "${text}" is not an origin (scheme://host[:port], no path).`, {
        argument: 'allowedOrigins',
      });
    }
    if (own && !own.includes(origin)) {
      throw new GatewayError('ORIGIN_NOT_ALLOWED', `This key may not be used from ${origin}, so it cannot grant it.`, { origin });
    }
    return origin;
  });
  return [...new Set(origins)];
}

/** When a key made now ends: when asked, never after the caller's own credential. */
export function grantedExpiry(caller: Caller, requested: Date | null | undefined): Date | null {
  if (requested && requested.getTime() <= Date.now()) {
    throw new GatewayError('BAD_USER_INPUT', 'expiresAt: the time is in the past.', { argument: 'expiresAt' });
  }
  const ownEnd = caller.expiresAt ?? null;
  if (ownEnd === null) return requested ?? null;
  if (!requested) return new Date(ownEnd);
  if (requested.getTime() > ownEnd) {
    throw new GatewayError('INSUFFICIENT_PERMISSIONS', `expiresAt: this key itself ends at ${new Date(ownEnd).toISOString()}.`, {
      argument: 'expiresAt',
    });
  }
  return requested;
}

/**
 * `messageId` (a row id) when the caller may read it: any of its account's, or only the one
 * message its token is limited to. undefined reads as not found.
 */
export function withinMessageLimit(caller: Caller, messageId: string | null | undefined): string | undefined {
  const limit = caller.token?.messageId;
  return messageId && (!limit || limit === messageId) ? messageId : undefined;
}
