import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from '../../src/messages/money.ts';
import { CreateApiKey, CreateSubAccount, MyAccount, SubAccounts, TransferCredit } from '../support/account-documents.ts';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { Balance, DeliveryUpdated, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { ledgerSum, wholeLedger } from '../support/ledger.ts';

const FINAL = ['DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED'];

describe('a reseller, over GraphQL only', () => {
  let gateway: TestGateway;
  let reseller: { apiKey: string; accountId: string };

  beforeAll(async () => {
    gateway = await startGateway();
    // The operator opens the reseller's account (the CLI's function); everything after is the reseller's own doing.
    reseller = await gateway.account({ credit: '100', currency: 'USD' });
  });
  afterAll(() => gateway.stop());

  it('sells to its own customer: its price, its balance, its key, and both ledgers add up to both balances', async () => {
    const url = gateway.graphqlUrl;
    const own = (await gqlData(url, reseller.apiKey, MyAccount)).account;

    // A customer with its own price for Tanzania (the gateway charges USD 0.02 there).
    const { createSubAccount: shop } = await gqlData(url, reseller.apiKey, CreateSubAccount, {
      input: { name: 'Duka la Mama', prices: [{ country: 'TZ', pricePerSegment: '0.035' }] },
    });
    expect(shop).toMatchObject({ currency: 'USD', balance: '0.00', test: false, suspended: false, parent: { id: own.id } });
    expect(shop.prices).toEqual([{ country: 'TZ', pricePerSegment: '0.035' }]);

    // Recharged from the reseller's balance.
    const recharged = await gqlData(url, reseller.apiKey, TransferCredit, { input: { accountId: shop.id, amount: '10.50' } });
    expect(recharged.transferCredit).toEqual({ id: shop.id, balance: '10.50', currency: 'USD' });

    // A key for the customer, made by the reseller; the secret is shown this once.
    const { createApiKey: made } = await gqlData(url, reseller.apiKey, CreateApiKey, {
      input: { accountId: shop.id, scopes: ['send', 'read'], name: "the shop's backend" },
    });
    expect(made.apiKey).toMatchObject({ accountId: shop.id, scopes: ['send', 'read'], name: "the shop's backend", revokedAt: null });
    expect(made.secret.startsWith(made.apiKey.prefix)).toBe(true);
    const shopKey = made.secret;

    // Sent with the customer's key: at the customer's price, from the customer's balance. Two
    // recipients in Tanzania (one segment each), and one in Bangladesh, which the customer's
    // table does not name: the gateway's price there (USD 0.015).
    const updates = new Collector(wsClient(gateway.wsUrl, shopKey), DeliveryUpdated);
    await gateway.subscribersLive(rowId(shop.id));
    const sent = await gqlData(url, shopKey, SendSms, {
      input: { message: 'Karibu dukani', recipients: ['+255712345671', '+255712345672', '+8801712345671'] },
    });
    expect(sent.sendSms.message).toMatchObject({ cost: '0.085', currency: 'USD', recipientCount: 3 });
    // Two segments to one recipient: twice the price.
    const long = await gqlData(url, shopKey, SendSms, { input: { message: 'x'.repeat(200), recipients: ['+255712345673'] } });
    expect(long.sendSms.message).toMatchObject({ segments: 2, cost: '0.07' });
    await updates.until((items) => items.filter((u) => FINAL.includes(u.deliveryUpdated.delivery.status)).length === 4, 'four final statuses');
    updates.dispose();
    expect((await gqlData(url, shopKey, Balance)).balance).toMatchObject({ amount: '10.345', currency: 'USD' });
    // The reseller paid the recharge, not the sends.
    expect((await gqlData(url, reseller.apiKey, Balance)).balance.amount).toBe('89.50');

    // Part of the credit taken back.
    const deducted = await gqlData(url, reseller.apiKey, TransferCredit, { input: { accountId: shop.id, amount: '-2.345' } });
    expect(deducted.transferCredit.balance).toBe('8.00');

    // Both ledgers, read by the reseller (and the customer's by the customer too): every entry
    // with its cause, and added up they are both balances, to the cent.
    const resellerLedger = await wholeLedger(url, reseller.apiKey);
    const shopLedger = await wholeLedger(url, reseller.apiKey, shop.id);
    expect(await wholeLedger(url, shopKey)).toEqual(shopLedger);
    expect(resellerLedger.map((e) => [e.kind, e.amount, e.counterpartAccountId ?? null]).reverse()).toEqual([
      ['CREDIT', '100.00', null],
      ['TRANSFER_OUT', '-10.50', shop.id],
      ['TRANSFER_IN', '2.345', shop.id],
    ]);
    expect(shopLedger.map((e) => [e.kind, e.amount, e.messageId ?? e.counterpartAccountId]).reverse()).toEqual([
      ['TRANSFER_IN', '10.50', own.id],
      ['DEBIT', '-0.085', sent.sendSms.message.id],
      ['DEBIT', '-0.07', long.sendSms.message.id],
      ['TRANSFER_OUT', '-2.345', own.id],
    ]);
    const balances = {
      reseller: (await gqlData(url, reseller.apiKey, Balance)).balance.amount,
      shop: (await gqlData(url, shopKey, Balance)).balance.amount,
    };
    expect(balances).toEqual({ reseller: '91.845', shop: '8.00' });
    expect(ledgerSum(resellerLedger).equals(balances.reseller)).toBe(true);
    expect(ledgerSum(shopLedger).equals(balances.shop)).toBe(true);
    expect(resellerLedger[0]!.balanceAfter).toBe(balances.reseller);
    expect(shopLedger[0]!.balanceAfter).toBe(balances.shop);
    for (const ledger of [resellerLedger, shopLedger]) {
      // Each entry's balance is the one before it plus its amount.
      const oldestFirst = [...ledger].reverse();
      oldestFirst.reduce((before, entry) => {
        expect(before.plus(entry.amount).equals(entry.balanceAfter)).toBe(true);
        return new Decimal(entry.balanceAfter);
      }, new Decimal(0));
    }

    // The reseller's list of customers, with what each holds and used this month.
    const { subAccounts } = await gqlData(url, reseller.apiKey, SubAccounts, {});
    expect(subAccounts.edges.map((e) => e.node)).toEqual([
      expect.objectContaining({ id: shop.id, balance: '8.00', usageThisMonth: expect.objectContaining({ messages: 2, recipients: 4, spend: '0.155' }) }),
    ]);
  });
});

function rowId(globalId: string): string {
  return Buffer.from(globalId, 'base64').toString('utf8').split(':')[1]!;
}
