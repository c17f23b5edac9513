import type { Scope } from './api-keys.ts';

/** Who makes a request: an API key of an account, or an access token made from one, as authentication found it. */
export type Caller = {
  accountId: string;
  apiKeyId: string;
  keyPrefix: string;
  scopes: readonly Scope[];
  isTest: boolean;
  currency: string;
  /** A sub-account's own price of a segment by destination (see messages/pricing.ts); absent: the gateway's table. */
  prices?: Readonly<Record<string, string>> | null;
  /** The browser origins this credential may be used from; absent or null: any. */
  allowedOrigins?: readonly string[] | null;
  /** When the credential stops working, in ms since the epoch; absent or null: never. */
  expiresAt?: number | null;
  /** Set when the credential is an access token made from the key (see access-tokens.ts). */
  token?: { id: string; messageId: string | null };
};
