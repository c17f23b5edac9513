import type { Db } from '../db/client.ts';
import { GatewayError } from '../graphql/errors.ts';
import { hashApiKey, looksLikeApiKey, type Scope } from './api-keys.ts';

export type Caller = {
  accountId: string;
  apiKeyId: string;
  keyPrefix: string;
  scopes: readonly Scope[];
  isTest: boolean;
  currency: string;
};

export function bearerToken(header: string | null | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/** Resolves an Authorization header to its caller, or throws the contract's auth error. */
export async function authenticate(db: Db, header: string | null | undefined): Promise<Caller> {
  if (!header?.trim()) {
    throw new GatewayError('AUTHENTICATION_REQUIRED', 'An API key is required: send "Authorization: Bearer <api key>".');
  }
  const key = bearerToken(header);
  if (!key || !looksLikeApiKey(key)) {
    throw new GatewayError('INVALID_API_KEY', 'The API key is malformed.');
  }
  // One indexed query per request, so a revoked key fails its very next request.
  const [found] = await db.$queryRaw<Caller[]>`
    SELECT k.id AS "apiKeyId", k.prefix AS "keyPrefix", k.scopes, a.id AS "accountId", a.is_test AS "isTest", a.currency
    FROM api_keys k JOIN accounts a ON a.id = k.account_id
    WHERE k.key_hash = ${hashApiKey(key)} AND k.revoked_at IS NULL`;
  if (!found) {
    throw new GatewayError('INVALID_API_KEY', 'The API key is unknown or revoked.');
  }
  return found;
}

/** Whether the key is still valid: used to end long-lived connections of revoked keys. */
export async function isKeyActive(db: Db, apiKeyId: string): Promise<boolean> {
  const key = await db.apiKey.findUnique({ where: { id: apiKeyId }, select: { revokedAt: true } });
  return Boolean(key && !key.revokedAt);
}
