import { sqlOf, type Db } from '../db/client.ts';
import { GatewayError } from '../shared/errors.ts';
import type { AccessTokens } from './access-tokens.ts';
import { hashApiKey, isScope, looksLikeApiKey } from './api-keys.ts';
import type { Caller } from './caller.ts';
import { keyCacheOf } from './key-cache.ts';

export function bearerToken(header: string | null | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

// The key's last use is written at most once a minute, in the statement that reads it: the
// cache answers every other request without one.
const CALLER_COLUMNS = `k.id AS "apiKeyId", k.prefix AS "keyPrefix", k.scopes, a.id AS "accountId", a.is_test AS "isTest",
  a.currency, a.prices, k.allowed_origins AS "allowedOrigins",
  (extract(epoch FROM k.expires_at) * 1000)::float8 AS "expiresAt", a.suspended_at IS NOT NULL AS suspended`;
const TOUCH = `UPDATE api_keys SET last_used_at = now()
  WHERE id = (SELECT "apiKeyId" FROM found) AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`;

const FIND_CALLER = {
  name: 'auth-find-caller',
  text: `WITH found AS (SELECT ${CALLER_COLUMNS} FROM api_keys k JOIN accounts a ON a.id = k.account_id
      WHERE k.key_hash = $1 AND k.revoked_at IS NULL), touched AS (${TOUCH})
    SELECT * FROM found`,
};

const FIND_CALLER_BY_KEY_ID = {
  name: 'auth-find-caller-by-key-id',
  text: `WITH found AS (SELECT ${CALLER_COLUMNS} FROM api_keys k JOIN accounts a ON a.id = k.account_id
      WHERE k.id = $1 AND k.revoked_at IS NULL), touched AS (${TOUCH})
    SELECT * FROM found`,
};

type CallerRow = Caller & { suspended: boolean };

/**
 * Resolves an Authorization header to its caller, or throws the contract's auth error. Keys and
 * the keys behind access tokens are answered from the key cache (see key-cache.ts), which a
 * revocation or a suspension empties of them at once, so such a key fails its very next request.
 * A token costs a signature check, no query (see access-tokens.ts).
 */
export async function authenticate(db: Db, header: string | null | undefined, tokens?: AccessTokens): Promise<Caller> {
  if (!header?.trim()) {
    throw new GatewayError('AUTHENTICATION_REQUIRED', 'An API key is required: send "Authorization: Bearer <api key>".');
  }
  const credential = bearerToken(header);
  if (credential && tokens?.looksLikeToken(credential)) {
    const claims = await tokens.verify(credential);
    const key = await keyCaller(db, `id:${claims.apiKeyId}`, FIND_CALLER_BY_KEY_ID, claims.apiKeyId, 'The API key this token was made from is revoked.');
    return {
      ...key,
      // Never more than the key: a token names its scopes, and admin is never one of them.
      scopes: key.scopes.filter((scope) => scope !== 'admin' && claims.scopes.includes(scope)),
      allowedOrigins: claims.allowedOrigins ?? key.allowedOrigins ?? null,
      expiresAt: Math.min(claims.expiresAt, key.expiresAt ?? Infinity),
      token: { id: claims.id, messageId: claims.messageId },
    };
  }
  if (!credential || !looksLikeApiKey(credential)) {
    throw new GatewayError('INVALID_API_KEY', 'The API key is malformed.');
  }
  const hash = hashApiKey(credential);
  return keyCaller(db, hash, FIND_CALLER, hash, 'The API key is unknown or revoked.');
}

async function keyCaller(db: Db, cacheKey: string, statement: { name: string; text: string }, value: string, unknown: string): Promise<Caller> {
  const cache = keyCacheOf(db);
  let caller = cache.get(cacheKey);
  if (!caller) {
    const [found] = await sqlOf(db).query<CallerRow>(statement, [value]);
    if (!found) throw new GatewayError('INVALID_API_KEY', unknown);
    if (found.suspended) {
      throw new GatewayError('ACCOUNT_SUSPENDED', 'This account is suspended: its keys and tokens are refused until its parent lifts the suspension.', {
        http: { status: 403 },
      });
    }
    const { suspended: _, ...row } = found;
    caller = { ...row, scopes: row.scopes.filter(isScope), expiresAt: row.expiresAt ?? null, allowedOrigins: row.allowedOrigins ?? null };
    cache.set(cacheKey, caller);
  }
  if (caller.expiresAt != null && caller.expiresAt <= Date.now()) {
    throw new GatewayError('INVALID_API_KEY', 'The API key has expired.');
  }
  return caller;
}
