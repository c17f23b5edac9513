import type { DeliveryStatus } from '../../db/sql.ts';
import { CARRIES_ANYTHING } from '../capabilities.ts';
import type { SmsProvider, StatusQuery, StatusReport, SubmitBatch, SubmitOutcome } from '../types.ts';

/**
 * The built-in provider: no network, and an outcome anyone can predict from the number's last
 * digit (documented in the README):
 *   7 → REJECTED at submission (SANDBOX_REJECTED), and the delivery's price is refunded
 *   8 → SENT, then FAILED (SANDBOX_UNDELIVERABLE)
 *   9 → SENT, then EXPIRED (SANDBOX_EXPIRED)
 *   anything else → SENT, then DELIVERED
 * The final status is reported `deliveryDelayMs` after submission, through status polling, so
 * it survives restarts like any other provider's report.
 */
export function createSandboxProvider(options: { deliveryDelayMs: number }): SmsProvider {
  return {
    name: 'sandbox',
    capabilities: {
      maxBatchSize: 1000,
      reports: 'poll',
      firstPollAfterMs: options.deliveryDelayMs,
      maxRequestsPerSecond: 1000,
      personalisation: 'rendered',
      scheduling: false,
      // It keeps nothing and sends nothing anywhere: a submission made again has no second effect.
      recognisesRetries: true,
      carries: CARRIES_ANYTHING,
      balance: false,
    },
    async send(batch: SubmitBatch): Promise<SubmitOutcome[]> {
      return batch.items.map((item) =>
        item.recipient.endsWith('7')
          ? {
              deliveryId: item.deliveryId,
              outcome: 'failed',
              permanent: true,
              status: 'REJECTED',
              errorCode: 'SANDBOX_REJECTED',
              errorMessage: 'The sandbox rejects numbers ending in 7.',
            }
          : { deliveryId: item.deliveryId, outcome: 'accepted', providerMessageId: `sandbox-${item.deliveryId}` },
      );
    },
    async fetchStatus(queries: StatusQuery[]): Promise<StatusReport[]> {
      const now = Date.now();
      return queries
        .filter((q) => now - q.sentAt.getTime() >= options.deliveryDelayMs)
        .map((q) => ({ deliveryId: q.deliveryId, at: new Date(), ...finalOutcome(q.recipient) }));
    },
    async fetchBalance() {
      return { amount: '0.00', currency: 'USD' };
    },
  };
}

function finalOutcome(recipient: string): { status: DeliveryStatus; errorCode?: string; errorMessage?: string } {
  if (recipient.endsWith('8')) {
    return { status: 'FAILED', errorCode: 'SANDBOX_UNDELIVERABLE', errorMessage: 'The sandbox fails numbers ending in 8.' };
  }
  if (recipient.endsWith('9')) {
    return { status: 'EXPIRED', errorCode: 'SANDBOX_EXPIRED', errorMessage: 'The sandbox expires numbers ending in 9.' };
  }
  return { status: 'DELIVERED' };
}
