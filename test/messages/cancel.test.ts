import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { globalIdOf, rowIdOf } from '../../src/graphql/ids.ts';
import { Decimal } from '../../src/messages/money.ts';
import { gql, gqlData } from '../support/client.ts';
import { Balance, CancelMessage, DeliveryReports, MessageById, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { eventually } from '../support/process.ts';

const inAnHour = () => new Date(Date.now() + 3600_000).toISOString();

describe('cancelMessage', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    // One round at a time, so that the cancel and the dispatcher meet on the same deliveries.
    gateway = await startGateway({ DISPATCH_BATCH_SIZE: '10', DISPATCH_CONCURRENCY: '1' });
  });
  afterAll(() => gateway.stop());

  const balanceOf = async (apiKey: string) => new Decimal((await gqlData(gateway.graphqlUrl, apiKey, Balance, {})).balance.amount).toFixed(4);

  it('cancels the scheduled deliveries, refunds them to the cent, and a second cancel is MESSAGE_NOT_CANCELLABLE', async () => {
    const { apiKey } = await gateway.account({ credit: '1.0000' });
    const sent = await gqlData(gateway.graphqlUrl, apiKey, SendSms, {
      input: { message: 'later', recipients: ['+255712345671', '+255712345672', '+8801712345673'], scheduleTime: inAnHour() },
    });
    expect(sent.sendSms.message).toMatchObject({ status: 'SCHEDULED', cost: '0.055' });
    expect(await balanceOf(apiKey)).toBe('0.9450');

    const { cancelMessage } = await gqlData(gateway.graphqlUrl, apiKey, CancelMessage, { id: sent.sendSms.message.id });
    expect(cancelMessage.status).toBe('CANCELED');
    expect(cancelMessage.deliveries.map((d) => d.status)).toEqual(['CANCELED', 'CANCELED', 'CANCELED']);
    expect(await balanceOf(apiKey)).toBe('1.0000');
    const reports = await gqlData(gateway.graphqlUrl, apiKey, DeliveryReports, { filter: { status: 'CANCELED' } });
    expect(reports.deliveryReports.totalCount).toBe(3);

    const again = await gql(gateway.graphqlUrl, apiKey, CancelMessage, { id: sent.sendSms.message.id });
    expect(again.errors?.[0]?.extensions?.code).toBe('MESSAGE_NOT_CANCELLABLE');
    expect(await balanceOf(apiKey)).toBe('1.0000');
    const ledger = await gateway.app.services.db.ledgerEntry.findMany({ where: { messageId: rowIdOf(sent.sendSms.message.id, 'Message') }, orderBy: { id: 'asc' } });
    expect(ledger.map((l) => [l.kind, l.amount.toFixed(4)])).toEqual([
      ['DEBIT', '-0.0550'],
      ['REFUND', '0.0200'],
      ['REFUND', '0.0200'],
      ['REFUND', '0.0150'],
    ]);
  });

  it('is MESSAGE_NOT_CANCELLABLE for a message sent at once, and MESSAGE_NOT_FOUND for another account\'s', async () => {
    const { apiKey } = await gateway.account();
    const other = await gateway.account();
    const now = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'now', recipients: ['+255712345671'] } });
    const result = await gql(gateway.graphqlUrl, apiKey, CancelMessage, { id: now.sendSms.message.id });
    expect(result.errors?.[0]?.extensions?.code).toBe('MESSAGE_NOT_CANCELLABLE');
    const later = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'x', recipients: ['+255712345671'], scheduleTime: inAnHour() } });
    const foreign = await gql(gateway.graphqlUrl, other.apiKey, CancelMessage, { id: later.sendSms.message.id });
    expect(foreign.errors?.[0]?.extensions?.code).toBe('MESSAGE_NOT_FOUND');
    expect((await gqlData(gateway.graphqlUrl, apiKey, MessageById, { id: later.sendSms.message.id })).message?.status).toBe('SCHEDULED');
  });

  it('racing the dispatcher for the same deliveries, never both sends and refunds one', async () => {
    let cancelWon = false;
    let dispatcherWon = false;
    for (let round = 0; round < 10 && !(cancelWon && dispatcherWon); round++) {
      const { apiKey, accountId } = await gateway.account({ credit: '10' });
      // Numbers ending 0-6: the sandbox delivers them.
      const recipients = Array.from({ length: 100 }, (_, i) => `+255712345${String(i).padStart(3, '0')}`).filter((n) => !/[789]$/.test(n));
      const dueAt = Date.now() + 700;
      const sent = await gqlData(gateway.graphqlUrl, apiKey, SendSms, {
        input: { message: 'race', recipients, scheduleTime: new Date(dueAt).toISOString() },
      });
      const messageId = sent.sendSms.message.id;
      // From a little before the due time to a little after it, round by round.
      await eventually(async () => Date.now() >= dueAt - 60 + round * 25, 'the cancel time of this round', 5000);
      const answer = await gql(gateway.graphqlUrl, apiKey, CancelMessage, { id: messageId });
      const cancelled = new Set((answer.data?.cancelMessage?.deliveries ?? []).filter((d) => d.status === 'CANCELED').map((d) => d.id));
      if (!answer.data) expect(answer.errors?.[0]?.extensions?.code).toBe('MESSAGE_NOT_CANCELLABLE');

      const settled = await eventually(async () => {
        const { message } = await gqlData(gateway.graphqlUrl, apiKey, MessageById, { id: messageId });
        return message?.deliveries.every((d) => d.status === 'CANCELED' || d.status === 'DELIVERED') ? message : undefined;
      }, 'every delivery to end');
      const refunds = await gateway.app.services.db.ledgerEntry.findMany({ where: { accountId, kind: 'REFUND' } });
      const refunded = new Set(refunds.map((r) => globalIdOf('Delivery', r.deliveryId!)));
      for (const delivery of settled.deliveries) {
        if (delivery.status === 'CANCELED') {
          expect(delivery.sentAt).toBeNull();
          expect(delivery.provider).toBeNull();
          expect(refunded.has(delivery.id)).toBe(true);
          expect(cancelled.has(delivery.id)).toBe(true);
        } else {
          expect(delivery.sentAt).not.toBeNull();
          expect(refunded.has(delivery.id)).toBe(false);
          expect(cancelled.has(delivery.id)).toBe(false);
        }
      }
      expect(refunds).toHaveLength(cancelled.size);
      const kept = settled.deliveries.length - cancelled.size;
      expect(await balanceOf(apiKey)).toBe(new Decimal(10).minus(new Decimal('0.02').times(kept)).toFixed(4));
      cancelWon ||= cancelled.size > 0;
      dispatcherWon ||= kept > 0;
    }
    // The race went both ways: some rounds the cancel took the deliveries, some the dispatcher did.
    expect(cancelWon).toBe(true);
    expect(dispatcherWon).toBe(true);
  });
});
