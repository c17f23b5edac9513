import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey } from '../../src/accounts/accounts.ts';
import { gql, gqlData } from '../support/client.ts';
import { Balance, DeliveryReports, MessageById, SendSms, SmsQuote } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { accountState } from '../support/state.ts';
import type { SendSmsInput } from '../generated/graphql.ts';

const OK = '+255712345671';

describe('every contract error of sendSms changes nothing', () => {
  let gateway: TestGateway;
  let key: string;
  let accountId: string;

  beforeAll(async () => {
    // No dispatcher: nothing but the requests under test may change the account.
    gateway = await startGateway({ DISPATCHER: 'off' });
    ({ apiKey: key, accountId } = await gateway.account({ credit: '1' }));
  });
  afterAll(() => gateway.stop());

  async function expectRefused(input: SendSmsInput, code: string, apiKey: string | null = key) {
    const before = await accountState(gateway.app.services.db, accountId);
    const result = await gql(gateway.graphqlUrl, apiKey ?? undefined, SendSms, { input });
    expect(result.errors?.map((e) => e.extensions?.code)).toEqual([code]);
    expect(result.data?.sendSms ?? null).toBeNull();
    expect(await accountState(gateway.app.services.db, accountId)).toEqual(before);
    return result.errors![0]!;
  }

  const cases: Array<[string, SendSmsInput, string]> = [
    ['an empty message', { message: '', recipients: [OK] }, 'MISSING_MESSAGE'],
    ['a message of spaces', { message: '   \n ', recipients: [OK] }, 'MISSING_MESSAGE'],
    ['no recipients at all', { message: 'hi' }, 'MISSING_RECIPIENTS'],
    ['empty recipient lists', { message: 'hi', recipients: [], personalized: [] }, 'MISSING_RECIPIENTS'],
    ['only invalid numbers', { message: 'hi', recipients: ['12', 'abc', '+99912345678'] }, 'NO_VALID_RECIPIENTS'],
    ['11 GSM-7 segments', { message: 'a'.repeat(153 * 10 + 1), recipients: [OK] }, 'MESSAGE_TOO_LONG'],
    ['11 UCS-2 segments', { message: 'ж'.repeat(67 * 10 + 1), recipients: [OK] }, 'MESSAGE_TOO_LONG'],
    ['a personalised text over 10 segments', { message: '{{x}}', personalized: [{ to: OK, variables: { x: 'b'.repeat(1600) } }] }, 'MESSAGE_TOO_LONG'],
    ['a sender id of 12 letters', { message: 'hi', recipients: [OK], senderId: 'ABCDEFGHIJKL' }, 'INVALID_SENDER_ID'],
    ['a sender id with symbols', { message: 'hi', recipients: [OK], senderId: 'Shop<script>' }, 'INVALID_SENDER_ID'],
    ['a schedule time in the past', { message: 'hi', recipients: [OK], scheduleTime: new Date(Date.now() - 60_000).toISOString() }, 'INVALID_SCHEDULE_TIME'],
    ['a schedule time 36 days ahead', { message: 'hi', recipients: [OK], scheduleTime: new Date(Date.now() + 36 * 86400_000).toISOString() }, 'INVALID_SCHEDULE_TIME'],
    ['an unknown provider', { message: 'hi', recipients: [OK], provider: 'twilio' }, 'PROVIDER_NOT_FOUND'],
    ['a price over the balance', { message: 'hi', recipients: Array.from({ length: 51 }, (_, i) => `+2557123456${String(i).padStart(2, '0')}`) }, 'INSUFFICIENT_BALANCE'],
    ['10,001 recipients', { message: 'hi', recipients: Array.from({ length: 10_001 }, () => OK) }, 'BAD_USER_INPUT'],
    ['a 65-character recipient', { message: 'hi', recipients: ['1'.repeat(65)] }, 'BAD_USER_INPUT'],
    ['variables that are not an object', { message: 'hi {{a}}', personalized: [{ to: OK, variables: [1, 2] }] }, 'BAD_USER_INPUT'],
    ['an empty reference', { message: 'hi', recipients: [OK], reference: '' }, 'BAD_USER_INPUT'],
  ];

  it.each(cases)('refuses %s', async (_name, input, code) => {
    await expectRefused(input, code);
  });

  it('names the limits in MESSAGE_TOO_LONG', async () => {
    const error = await expectRefused({ message: 'a'.repeat(1531), recipients: [OK] }, 'MESSAGE_TOO_LONG');
    expect(error.extensions).toMatchObject({ segments: 11, maxSegments: 10, encoding: 'GSM7' });
  });

  it('accepts exactly 10 segments', async () => {
    const sent = await gqlData(gateway.graphqlUrl, key, SendSms, { input: { message: 'a'.repeat(1530), recipients: [OK] } });
    expect(sent.sendSms.message.segments).toBe(10);
    expect(sent.sendSms.message.cost).toBe('0.20');
  });

  it('refuses a wrongly typed argument before running anything', async () => {
    const before = await accountState(gateway.app.services.db, accountId);
    const result = await gql(gateway.graphqlUrl, key, SendSms, { input: { message: 42, recipients: OK } as never });
    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(await accountState(gateway.app.services.db, accountId)).toEqual(before);
  });

  it('requires an API key, a valid one, and the right scope', async () => {
    const input = { message: 'hi', recipients: [OK] };
    const missing = await expectRefused(input, 'AUTHENTICATION_REQUIRED', null);
    expect(missing.message).toMatch(/Authorization: Bearer/);
    await expectRefused(input, 'INVALID_API_KEY', 'sgw_live_nonsense');
    await expectRefused(input, 'INVALID_API_KEY', `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`);

    const readOnly = await createApiKey(gateway.app.services.db, accountId, { scopes: ['read'] });
    await expectRefused(input, 'INSUFFICIENT_PERMISSIONS', readOnly.apiKey);
    expect((await gqlData(gateway.graphqlUrl, readOnly.apiKey, Balance)).balance.accountId).toBe(accountId);

    const sendOnly = await createApiKey(gateway.app.services.db, accountId, { scopes: ['send'] });
    const balance = await gql(gateway.graphqlUrl, sendOnly.apiKey, Balance);
    expect(balance.errors?.[0]?.extensions?.code).toBe('INSUFFICIENT_PERMISSIONS');

    await revokeApiKey(gateway.app.services.db, readOnly.apiKeyId);
    const revoked = await gql(gateway.graphqlUrl, readOnly.apiKey, Balance);
    expect(revoked.status).toBe(401);
    expect(revoked.errors?.[0]?.extensions?.code).toBe('INVALID_API_KEY');
  });

  it('reads a malformed or foreign message id as not found', async () => {
    const other = await gateway.account();
    const theirs = await gqlData(gateway.graphqlUrl, other.apiKey, SendSms, { input: { message: 'private', recipients: [OK] } });
    for (const id of [theirs.sendSms.message.id, 'garbage', Buffer.from('Message:not-a-uuid').toString('base64')]) {
      const result = await gql(gateway.graphqlUrl, key, MessageById, { id });
      expect(result.data?.message).toBeNull();
      expect(result.errors?.map((e) => e.extensions?.code)).toEqual(['MESSAGE_NOT_FOUND']);
      expect(JSON.stringify(result)).not.toContain('private');
    }
    const reports = await gql(gateway.graphqlUrl, key, DeliveryReports, { filter: { messageId: theirs.sendSms.message.id } });
    expect(reports.data?.deliveryReports.totalCount).toBe(0);
  });

  it('refuses a malformed recipient filter with INVALID_PHONE_FORMAT', async () => {
    const result = await gql(gateway.graphqlUrl, key, DeliveryReports, { filter: { recipient: 'call me' } });
    expect(result.errors?.[0]?.extensions?.code).toBe('INVALID_PHONE_FORMAT');
  });

  it('quotes without sending or charging, with the reasons of rejected numbers', async () => {
    const before = await accountState(gateway.app.services.db, accountId);
    const quote = await gqlData(gateway.graphqlUrl, key, SmsQuote, {
      input: { message: 'Habari 😀 ya leo', recipients: [OK, '0712345672', 'nonsense'] },
    });
    expect(quote.smsQuote).toMatchObject({
      encoding: 'UCS2',
      segments: 1,
      unicodeCharacters: ['😀'],
      acceptedRecipients: [OK, '+255712345672'],
      rejectedRecipients: [{ input: 'nonsense', code: 'INVALID_PHONE_FORMAT' }],
      cost: '0.04',
      currency: 'USD',
    });
    expect(quote.smsQuote.balanceAfter).toBe((Number(before.balance) - 0.04).toFixed(2));
    expect(await accountState(gateway.app.services.db, accountId)).toEqual(before);
  });
});
