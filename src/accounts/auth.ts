import { sqlOf, type Db } from '../db/client.ts';
import { GatewayError } from '../shared/errors.ts';
import { hashApiKey, looksLikeApiKey } from './api-keys.ts';
import type { Caller } from './caller.ts';
import { keyCacheOf } from './key-cache.ts';

export function bearerToken(header: string | null | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

const FIND_CALLER = {
  name: 'auth-find-caller',
  text: `SELECT k.id AS "apiKeyId", k.prefix AS "keyPrefix", k.scopes, a.id AS "accountId", a.is_test AS "isTest", a.currency
    FROM api_keys k JOIN accounts a ON a.id = k.account_id
    WHERE k.key_hash = $1 AND k.revoked_at IS NULL`,
};

/**
 * Resolves an Authorization header to its caller, or throws the contract's auth error. Known
 * keys are answered from the key cache (see key-cache.ts), which a revocation empties of them
 * at once, so a revoked key fails its very next request.
 */
export async function authenticate(db: Db, header: string | null | undefined): Promise<Caller> {
  if (!header?.trim()) {
    throw new GatewayError('AUTHENTICATION_REQUIRED', 'An API key is required: send "Authorization: Bearer <api key>".');
  }
  const key = bearerToken(header);
  if (!key || !looksLikeApiKey(key)) {
    throw new GatewayError('INVALID_API_KEY', 'The API key is malformed.');
  }
  const hash = hashApiKey(key);
  const cache = keyCacheOf(db);
  const cached = cache.get(hash);
  if (cached) return cached;
  const [found] = await sqlOf(db).query<Caller>(FIND_CALLER, [hash]);
  if (!found) {
    throw new GatewayError('INVALID_API_KEY', 'The API key is unknown or revoked.');
  }
  cache.set(hash, found);
  return found;
}
