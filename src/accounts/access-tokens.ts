import { createHash, randomBytes } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import type { Db } from '../db/client.ts';
import { GatewayError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import { decryptSecret, encryptSecret } from '../webhooks/secrets.ts';
import { isScope, type Scope } from './api-keys.ts';

/** Contract: a token lives an hour at most. */
export const MAX_TOKEN_TTL_SECONDS = 3600;

const ISSUER = 'sms-gateway';
const ALGORITHM = 'HS256';
const SETTING = 'access_token_signing_key';
const TOKEN_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/;
const MAX_TOKEN_LENGTH = 4096;
/** Tokens whose signature this process has checked, by their whole text. */
const MAX_VERIFIED = 10_000;

/** What a valid token says: whose key it was made from, and what it may do until when. */
export type TokenClaims = {
  id: string;
  apiKeyId: string;
  scopes: Scope[];
  messageId: string | null;
  allowedOrigins: string[] | null;
  /** ms since the epoch */
  expiresAt: number;
};

export type TokenGrant = {
  apiKeyId: string;
  scopes: readonly Scope[];
  expiresAt: Date;
  messageId: string | null;
  allowedOrigins: readonly string[] | null;
};

/**
 * Short-lived signed access tokens (JWT, HS256, signed and checked with `jose`) for browsers. A
 * token names the key it was made from; the key is checked on every use through the key cache,
 * so a token dies with its key and its account's suspension, and checking one costs no query.
 * The signing key is TOKEN_SIGNING_KEY when set; otherwise one generated on first use, stored in
 * the settings table encrypted with the key that protects webhook secrets, and shared that way
 * by every instance.
 */
export class AccessTokens {
  private key: Promise<CryptoKey> | undefined;
  // A browser uses its token for many requests: its signature is checked once (about 60 µs
  // through WebCrypto), then the same text is known. What the token may do still depends on
  // its key, which authenticate checks on every use.
  private readonly verified = new Map<string, TokenClaims>();

  constructor(
    private readonly db: Db,
    private readonly configured: string | undefined,
    private readonly atRestKey: () => Promise<Buffer>,
  ) {}

  /** Access tokens are JWTs; API keys never have dots. */
  looksLikeToken(credential: string): boolean {
    return credential.length <= MAX_TOKEN_LENGTH && TOKEN_SHAPE.test(credential);
  }

  async mint(grant: TokenGrant): Promise<string> {
    const claims: Record<string, unknown> = { scope: grant.scopes.join(' ') };
    if (grant.messageId) claims.msg = grant.messageId;
    if (grant.allowedOrigins) claims.origins = grant.allowedOrigins;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setSubject(grant.apiKeyId)
      .setJti(newId())
      .setIssuedAt()
      // To the millisecond (a NumericDate may have a fraction, RFC 7519 2): a token of one
      // second lives a second, and none outlives its key by the rounding.
      .setExpirationTime(grant.expiresAt.getTime() / 1000)
      .sign(await this.signingKey());
  }

  /** The token's claims, or TOKEN_EXPIRED, or INVALID_API_KEY for anything this gateway did not sign. */
  async verify(token: string): Promise<TokenClaims> {
    const known = this.verified.get(token);
    if (known) {
      if (known.expiresAt > Date.now()) return known;
      this.verified.delete(token);
      throw tokenExpired();
    }
    const claims = await this.check(token);
    // Insertion order is age order: the oldest goes first.
    if (this.verified.size >= MAX_VERIFIED) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, claims);
    return claims;
  }

  private async check(token: string): Promise<TokenClaims> {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, await this.signingKey(), {
        algorithms: [ALGORITHM],
        issuer: ISSUER,
        requiredClaims: ['sub', 'exp', 'jti'],
      }));
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw tokenExpired();
      if (error instanceof errors.JOSEError) throw new GatewayError('INVALID_API_KEY', 'The access token is not valid.');
      throw error;
    }
    // jose compares with whole seconds; the fraction counts here.
    if (payload.exp! * 1000 <= Date.now()) throw tokenExpired();
    const origins = payload.origins;
    return {
      id: payload.jti!,
      apiKeyId: payload.sub!,
      scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(isScope) : [],
      messageId: typeof payload.msg === 'string' ? payload.msg : null,
      allowedOrigins: Array.isArray(origins) ? origins.filter((o): o is string => typeof o === 'string') : null,
      expiresAt: payload.exp! * 1000,
    };
  }

  private signingKey(): Promise<CryptoKey> {
    this.key ??= this.resolveKey().catch((error: unknown) => {
      this.key = undefined;
      throw error;
    });
    return this.key;
  }

  private async resolveKey(): Promise<CryptoKey> {
    const raw = this.configured ? createHash('sha256').update(this.configured).digest() : await this.storedKey();
    return crypto.subtle.importKey('raw', new Uint8Array(raw), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  }

  private async storedKey(): Promise<Buffer> {
    const atRest = await this.atRestKey();
    const generated = encryptSecret(atRest, randomBytes(32).toString('base64'));
    // Two instances starting together agree on whichever insert landed first.
    await this.db.setting.createMany({ data: { key: SETTING, value: generated }, skipDuplicates: true });
    const stored = await this.db.setting.findUniqueOrThrow({ where: { key: SETTING } });
    return Buffer.from(decryptSecret(atRest, stored.value), 'base64');
  }
}

function tokenExpired(): GatewayError {
  return new GatewayError('TOKEN_EXPIRED', 'The access token has expired: ask your backend for a fresh one.');
}
