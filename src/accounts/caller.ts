import type { Scope } from './api-keys.ts';

/** Who makes a request: an API key of an account, as authentication found it. */
export type Caller = {
  accountId: string;
  apiKeyId: string;
  keyPrefix: string;
  scopes: readonly Scope[];
  isTest: boolean;
  currency: string;
};
