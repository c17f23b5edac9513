import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiKeys,
  CreateAccessToken,
  CreateApiKey,
  CreateSubAccount,
  SubAccounts,
  SuspendSubAccount,
  TransferCredit,
} from '../support/account-documents.ts';
import type { TypedDocumentString } from '../generated/graphql.ts';
import { gql, gqlData } from '../support/client.ts';
import { Balance } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { wholeLedger } from '../support/ledger.ts';

const UNKNOWN_ACCOUNT = Buffer.from('Account:0193a4f2-0000-7000-8000-000000000000').toString('base64');

describe('accounts, keys and tokens refuse bad input with a specific code, and change nothing', () => {
  let gateway: TestGateway;
  let parent: { apiKey: string; accountId: string };
  let stranger: { apiKey: string; accountId: string };
  let child: string;
  let suspended: string;
  let suspendedKey: string;

  /** What a refusal must leave as it was: both balances, both ledgers, every key, every sub-account. */
  async function state() {
    const url = gateway.graphqlUrl;
    return {
      parentBalance: (await gqlData(url, parent.apiKey, Balance)).balance.amount,
      parentLedger: await wholeLedger(url, parent.apiKey),
      childLedger: await wholeLedger(url, parent.apiKey, child),
      subAccounts: (await gqlData(url, parent.apiKey, SubAccounts, {})).subAccounts.edges.map((e) => e.node),
      keys: (await gqlData(url, parent.apiKey, ApiKeys, { first: 100 })).apiKeys.edges.length,
      childKeys: (await gqlData(url, parent.apiKey, ApiKeys, { accountId: child })).apiKeys.edges.length,
    };
  }

  async function expectRefused<R, V>(document: TypedDocumentString<R, V>, variables: V, code: string, apiKey = parent.apiKey) {
    const before = await state();
    const result = await gql(gateway.graphqlUrl, apiKey, document, variables);
    expect(result.errors?.map((e) => e.extensions?.code)).toEqual([code]);
    expect(result.data ?? null).toBeNull();
    expect(await state()).toEqual(before);
    return result.errors![0]!;
  }

  beforeAll(async () => {
    // Each refusal reads the whole state twice: far more reads than a minute's default limits allow.
    gateway = await startGateway({ RATE_LIMITS: JSON.stringify({ balance: 10_000, status: 10_000, reports: 10_000, admin: 10_000 }) });
    parent = await gateway.account({ credit: '5' });
    stranger = await gateway.account({ credit: '5' });
    const url = gateway.graphqlUrl;
    child = (await gqlData(url, parent.apiKey, CreateSubAccount, { input: { name: 'child' } })).createSubAccount.id;
    await gqlData(url, parent.apiKey, TransferCredit, { input: { accountId: child, amount: '1' } });
    suspended = (await gqlData(url, parent.apiKey, CreateSubAccount, { input: { name: 'suspended' } })).createSubAccount.id;
    suspendedKey = (await gqlData(url, parent.apiKey, CreateApiKey, { input: { accountId: suspended, scopes: ['read'] } })).createApiKey.secret;
    await gqlData(url, parent.apiKey, SuspendSubAccount, { id: suspended, suspended: true });
  });
  afterAll(() => gateway.stop());

  it('a transfer above the balance, either way: INSUFFICIENT_BALANCE', async () => {
    const up = await expectRefused(TransferCredit, { input: { accountId: child, amount: '4.0001' } }, 'INSUFFICIENT_BALANCE');
    expect(up.extensions).toMatchObject({ balance: '4.00', amount: '4.0001', currency: 'USD' });
    await expectRefused(TransferCredit, { input: { accountId: child, amount: '-1.01' } }, 'INSUFFICIENT_BALANCE');
  });

  it('an amount that is not one: INVALID_AMOUNT', async () => {
    for (const amount of ['0', '-0.0000', 'ten', '1.00001', '1e3', '']) {
      await expectRefused(TransferCredit, { input: { accountId: child, amount } }, 'INVALID_AMOUNT');
    }
    await expectRefused(CreateSubAccount, { input: { name: 'x', prices: [{ country: 'TZ', pricePerSegment: '-1' }] } }, 'INVALID_AMOUNT');
  });

  it('a token TTL above the maximum, or below one second: BAD_USER_INPUT, and no token', async () => {
    const above = await expectRefused(CreateAccessToken, { input: { scopes: ['read'], ttlSeconds: 3601 } }, 'BAD_USER_INPUT');
    expect(above.extensions).toMatchObject({ argument: 'ttlSeconds', maxTtlSeconds: 3600 });
    await expectRefused(CreateAccessToken, { input: { scopes: ['read'], ttlSeconds: 0 } }, 'BAD_USER_INPUT');
  });

  it('a scope above the key\'s, for a key or a token: INSUFFICIENT_PERMISSIONS', async () => {
    const { createApiKey } = await gqlData(gateway.graphqlUrl, parent.apiKey, CreateApiKey, { input: { scopes: ['admin', 'read'] } });
    const adminReader = createApiKey.secret;
    await expectRefused(CreateApiKey, { input: { scopes: ['read', 'send'] } }, 'INSUFFICIENT_PERMISSIONS', adminReader);
    await expectRefused(CreateApiKey, { input: { accountId: child, scopes: ['send'] } }, 'INSUFFICIENT_PERMISSIONS', adminReader);
    await expectRefused(CreateAccessToken, { input: { scopes: ['send'], ttlSeconds: 60 } }, 'INSUFFICIENT_PERMISSIONS', adminReader);
    // A token never carries admin, whatever the key holds.
    await expectRefused(CreateAccessToken, { input: { scopes: ['admin'], ttlSeconds: 60 } }, 'INSUFFICIENT_PERMISSIONS');
    // A scope that does not exist is malformed input.
    await expectRefused(CreateApiKey, { input: { scopes: ['root'] } }, 'BAD_USER_INPUT');
  });

  it('an origin outside the key\'s, or not an origin: ORIGIN_NOT_ALLOWED, BAD_USER_INPUT', async () => {
    const { createApiKey } = await gqlData(gateway.graphqlUrl, parent.apiKey, CreateApiKey, {
      input: { scopes: ['admin', 'read'], allowedOrigins: ['https://app.example.com'] },
    });
    const limited = createApiKey.secret;
    await expectRefused(CreateAccessToken, { input: { scopes: ['read'], ttlSeconds: 60, allowedOrigins: ['https://evil.example'] } }, 'ORIGIN_NOT_ALLOWED', limited);
    await expectRefused(CreateApiKey, { input: { scopes: ['read'], allowedOrigins: ['https://evil.example'] } }, 'ORIGIN_NOT_ALLOWED', limited);
    for (const origin of ['app.example.com', 'https://app.example.com/path', 'ftp://app.example.com', 'https://user@app.example.com']) {
      await expectRefused(CreateApiKey, { input: { scopes: ['read'], allowedOrigins: [origin] } }, 'BAD_USER_INPUT');
    }
  });

  it('an unknown sub-account, another account, or a sub-account of another: ACCOUNT_NOT_FOUND', async () => {
    const strangersChild = (await gqlData(gateway.graphqlUrl, stranger.apiKey, CreateSubAccount, { input: { name: 'theirs' } })).createSubAccount.id;
    const strangersOwn = (await gqlData(gateway.graphqlUrl, stranger.apiKey, ApiKeys, {})).apiKeys.edges[0]!.node.accountId;
    for (const accountId of [UNKNOWN_ACCOUNT, strangersChild, strangersOwn, 'not-an-id']) {
      await expectRefused(TransferCredit, { input: { accountId, amount: '1' } }, 'ACCOUNT_NOT_FOUND');
      await expectRefused(CreateApiKey, { input: { accountId, scopes: ['read'] } }, 'ACCOUNT_NOT_FOUND');
      await expectRefused(SuspendSubAccount, { id: accountId, suspended: true }, 'ACCOUNT_NOT_FOUND');
      await expectRefused(ApiKeys, { accountId }, 'ACCOUNT_NOT_FOUND');
    }
  });

  it('a suspended sub-account: ACCOUNT_SUSPENDED for a recharge, a new key, and its own keys', async () => {
    await expectRefused(TransferCredit, { input: { accountId: suspended, amount: '1' } }, 'ACCOUNT_SUSPENDED');
    await expectRefused(CreateApiKey, { input: { accountId: suspended, scopes: ['read'] } }, 'ACCOUNT_SUSPENDED');
    const own = await gql(gateway.graphqlUrl, suspendedKey, Balance);
    expect([own.status, own.errors?.[0]?.extensions?.code]).toEqual([403, 'ACCOUNT_SUSPENDED']);
  });

  it('a sub-account of a sub-account: INSUFFICIENT_PERMISSIONS (one level only)', async () => {
    const { createApiKey } = await gqlData(gateway.graphqlUrl, parent.apiKey, CreateApiKey, { input: { accountId: child, scopes: ['admin', 'read'] } });
    const before = await state();
    const result = await gql(gateway.graphqlUrl, createApiKey.secret, CreateSubAccount, { input: { name: 'grandchild' } });
    expect(result.errors?.map((e) => e.extensions?.code)).toEqual(['INSUFFICIENT_PERMISSIONS']);
    expect(result.errors?.[0]?.message).toMatch(/one level/);
    expect(await state()).toEqual(before);
  });
});
