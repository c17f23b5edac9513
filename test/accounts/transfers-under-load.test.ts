import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from '../../src/messages/money.ts';
import { CreateApiKey, CreateSubAccount, TransferCredit } from '../support/account-documents.ts';
import { gql, gqlData } from '../support/client.ts';
import { Balance, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { ledgerSum, wholeLedger } from '../support/ledger.ts';

describe('transfers and sends at once on one account', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway({ RATE_LIMITS: JSON.stringify({ send: 10_000, admin: 10_000, reports: 10_000, balance: 10_000 }) });
  });
  afterAll(() => gateway.stop());

  it('leave both balances exact and never negative, each refusal INSUFFICIENT_BALANCE', async () => {
    const url = gateway.graphqlUrl;
    const parent = await gateway.account({ credit: '1.00' });
    const { createSubAccount: shop } = await gqlData(url, parent.apiKey, CreateSubAccount, { input: { name: 'shop' } });
    await gqlData(url, parent.apiKey, TransferCredit, { input: { accountId: shop.id, amount: '0.10' } });
    const shopKey = (await gqlData(url, parent.apiKey, CreateApiKey, { input: { accountId: shop.id, scopes: ['send', 'read'] } })).createApiKey.secret;

    // 20 recharges of 0.04 and 10 deductions of 0.02 by the parent, 20 sends by the parent and
    // 10 by the shop (USD 0.02 each, to Tanzania), all in flight together.
    const recharge = () => gql(url, parent.apiKey, TransferCredit, { input: { accountId: shop.id, amount: '0.04' } });
    const deduct = () => gql(url, parent.apiKey, TransferCredit, { input: { accountId: shop.id, amount: '-0.02' } });
    const send = (key: string, i: number) => gql(url, key, SendSms, { input: { message: `order ${i}`, recipients: ['+255712345671'] } });
    const operations = [
      ...Array.from({ length: 20 }, () => ['recharge', recharge] as const),
      ...Array.from({ length: 10 }, () => ['deduct', deduct] as const),
      ...Array.from({ length: 20 }, (_, i) => ['parentSend', () => send(parent.apiKey, i)] as const),
      ...Array.from({ length: 10 }, (_, i) => ['shopSend', () => send(shopKey, 20 + i)] as const),
    ];
    const outcomes = await Promise.all(operations.map(async ([kind, run]) => ({ kind, result: await run() })));

    const done = { recharge: 0, deduct: 0, parentSend: 0, shopSend: 0 };
    for (const { kind, result } of outcomes) {
      if (result.errors) expect(result.errors.map((e) => e.extensions?.code)).toEqual(['INSUFFICIENT_BALANCE']);
      else done[kind] += 1;
    }
    // The parent was asked for 1.20 with at most 1.10 to give: something was refused.
    expect(done.recharge + done.deduct + done.parentSend + done.shopSend).toBeLessThan(operations.length);
    expect(done.recharge > 0 && done.parentSend > 0).toBe(true);

    const parentBalance = new Decimal((await gqlData(url, parent.apiKey, Balance)).balance.amount);
    const shopBalance = new Decimal((await gqlData(url, shopKey, Balance)).balance.amount);
    const cents = (n: number, each: string) => new Decimal(each).times(n);
    expect(parentBalance.toFixed(4)).toBe(
      new Decimal('0.90').minus(cents(done.recharge, '0.04')).plus(cents(done.deduct, '0.02')).minus(cents(done.parentSend, '0.02')).toFixed(4),
    );
    expect(shopBalance.toFixed(4)).toBe(
      new Decimal('0.10').plus(cents(done.recharge, '0.04')).minus(cents(done.deduct, '0.02')).minus(cents(done.shopSend, '0.02')).toFixed(4),
    );
    // Added up, each ledger is its balance; no entry ever left a balance below zero.
    for (const [key, balance, accountId] of [[parent.apiKey, parentBalance, undefined], [parent.apiKey, shopBalance, shop.id]] as const) {
      const ledger = await wholeLedger(url, key, accountId);
      expect(ledgerSum(ledger).equals(balance)).toBe(true);
      expect(ledger.every((e) => !new Decimal(e.balanceAfter).isNegative())).toBe(true);
    }
  });
});
