import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { gql, gqlData } from '../support/client.ts';
import { Balance, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { accountState } from '../support/state.ts';

const OK = '+255712345671';

describe('balance, concurrency and idempotency', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway({ DISPATCHER: 'off' });
  });
  afterAll(() => gateway.stop());

  it('lets exactly 20 of 50 concurrent sends through on credit for 20, and ends at zero', async () => {
    const { apiKey, accountId } = await gateway.account({ credit: '0.40' }); // 20 x 0.02
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        gql(gateway.graphqlUrl, apiKey, SendSms, { input: { message: `race ${i}`, recipients: [OK] } }),
      ),
    );
    const codes = results.map((r) => (r.data?.sendSms ? 'OK' : r.errors?.[0]?.extensions?.code));
    expect(codes.filter((c) => c === 'OK')).toHaveLength(20);
    expect(codes.filter((c) => c === 'INSUFFICIENT_BALANCE')).toHaveLength(30);
    expect((await gqlData(gateway.graphqlUrl, apiKey, Balance)).balance.amount).toBe('0.00');
    const state = await accountState(gateway.app.services.db, accountId);
    expect(state).toMatchObject({ messages: 20, deliveries: 20, ledger: 21, balance: '0' });
  });

  it('keeps the balance from going negative even against a direct update', async () => {
    const { accountId } = await gateway.account({ credit: '1' });
    await expect(
      gateway.app.services.db.$executeRaw`UPDATE accounts SET balance = balance - 2 WHERE id = ${accountId}::uuid`,
    ).rejects.toThrow(/accounts_balance_not_negative/);
  });

  it('returns the first message for a repeated reference, charging once', async () => {
    const { apiKey, accountId } = await gateway.account({ credit: '1' });
    const input = { message: 'once only', recipients: [OK, '+255712345672'], reference: 'order-77' };
    const first = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input });
    const again = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input });
    expect(again.sendSms.message.id).toBe(first.sendSms.message.id);
    expect(again.sendSms.message.reference).toBe('order-77');
    expect(await accountState(gateway.app.services.db, accountId)).toMatchObject({ messages: 1, deliveries: 2, ledger: 2, balance: '0.96' });

    const different = await gql(gateway.graphqlUrl, apiKey, SendSms, { input: { ...input, message: 'something else' } });
    expect(different.errors?.[0]?.extensions?.code).toBe('DUPLICATE_REFERENCE');
    expect(await accountState(gateway.app.services.db, accountId)).toMatchObject({ messages: 1, ledger: 2, balance: '0.96' });

    // The same reference on another account is another message.
    const other = await gateway.account({ credit: '1' });
    const theirs = await gqlData(gateway.graphqlUrl, other.apiKey, SendSms, { input });
    expect(theirs.sendSms.message.id).not.toBe(first.sendSms.message.id);
  });

  it('finds a scheduled message again after its time has passed', async () => {
    const { apiKey, accountId } = await gateway.account({ credit: '1' });
    const scheduleTime = new Date(Date.now() + 60_000);
    const input = { message: 'later', recipients: [OK], reference: 'scheduled-1', scheduleTime: scheduleTime.toISOString() };
    const first = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input });
    // The gateway runs in this process: move its clock past the scheduled time.
    vi.useFakeTimers({ toFake: ['Date'], now: scheduleTime.getTime() + 1000 });
    try {
      const again = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input });
      expect(again.sendSms.message.id).toBe(first.sendSms.message.id);
      const fresh = await gql(gateway.graphqlUrl, apiKey, SendSms, { input: { ...input, reference: 'scheduled-2' } });
      expect(fresh.errors?.[0]?.extensions?.code).toBe('INVALID_SCHEDULE_TIME');
    } finally {
      vi.useRealTimers();
    }
    expect(await accountState(gateway.app.services.db, accountId)).toMatchObject({ messages: 1, ledger: 2 });
  });

  it('sends and charges once when requests with the same reference race', async () => {
    const { apiKey, accountId } = await gateway.account({ credit: '1' });
    const input = { message: 'racing', recipients: [OK], reference: 'race-1' };
    const results = await Promise.all(Array.from({ length: 20 }, () => gqlData(gateway.graphqlUrl, apiKey, SendSms, { input })));
    expect(new Set(results.map((r) => r.sendSms.message.id)).size).toBe(1);
    expect(await accountState(gateway.app.services.db, accountId)).toMatchObject({ messages: 1, deliveries: 1, ledger: 2, balance: '0.98' });
  });

  it('charges by segments, recipients and destination, and never charges test accounts', async () => {
    const live = await gateway.account({ credit: '5' });
    const sent = await gqlData(gateway.graphqlUrl, live.apiKey, SendSms, {
      // 161 GSM-7 characters: 2 segments; one Tanzanian (0.02) and one Bangladeshi (0.015) number.
      input: { message: 'x'.repeat(161), recipients: [OK, '+8801712345678'] },
    });
    expect(sent.sendSms.message.segments).toBe(2);
    expect(sent.sendSms.message.cost).toBe('0.07');
    expect((await gqlData(gateway.graphqlUrl, live.apiKey, Balance)).balance.amount).toBe('4.93');

    const test = await gateway.account({ credit: '0', test: true });
    const free = await gqlData(gateway.graphqlUrl, test.apiKey, SendSms, { input: { message: 'free', recipients: [OK] } });
    expect(free.sendSms.message.cost).toBe('0.00');
    expect((await gqlData(gateway.graphqlUrl, test.apiKey, Balance)).balance.amount).toBe('0.00');
  });

  it('sends duplicates once and personalises per recipient', async () => {
    const { apiKey } = await gateway.account({ credit: '1' });
    const sent = await gqlData(gateway.graphqlUrl, apiKey, SendSms, {
      input: {
        message: 'Hi {{name}}, your balance is {{amount}}',
        recipients: [OK, '0712345671', '255712345671'],
        personalized: [
          { to: '+255712345672', variables: { name: 'Asha', amount: 1200 } },
          { to: '+255712345673', variables: { name: 'Juma' } },
        ],
      },
    });
    expect(sent.sendSms.message.deliveries.map((d) => d.recipient)).toEqual([OK, '+255712345672']);
    expect(sent.sendSms.rejectedRecipients.map((r) => [r.input, r.code])).toEqual([
      ['0712345671', 'DUPLICATE_RECIPIENT'],
      ['255712345671', 'DUPLICATE_RECIPIENT'],
      ['+255712345673', 'MISSING_VARIABLE'],
    ]);
    const rows = await gateway.app.services.db.delivery.findMany({ where: { recipient: '+255712345672' }, select: { body: true } });
    expect(rows.map((r) => r.body)).toContain('Hi Asha, your balance is 1200');
  });
});
