import type { DeliveryStatus, MessageStatus } from '../db/sql.ts';

/**
 * A delivery only moves forward: a report that would move it back (a late SENT after
 * DELIVERED) or from one final status to another is ignored.
 */
export const STATUS_RANK: Record<DeliveryStatus, number> = {
  SCHEDULED: 0,
  QUEUED: 1,
  SENT: 2,
  DELIVERED: 3,
  FAILED: 3,
  EXPIRED: 3,
  REJECTED: 3,
  CANCELED: 3,
};

export const FINAL_STATUSES: readonly DeliveryStatus[] = ['DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED', 'CANCELED'];

export function isFinal(status: DeliveryStatus): boolean {
  return STATUS_RANK[status] === 3;
}

export function canMove(from: DeliveryStatus, to: DeliveryStatus): boolean {
  return STATUS_RANK[to] > STATUS_RANK[from];
}

/** Which per-message counter a delivery status is counted in. */
export type StatusCounter = 'scheduled' | 'queued' | 'sent' | 'delivered' | 'failed' | 'canceled';

export function counterOf(status: DeliveryStatus): StatusCounter {
  switch (status) {
    case 'SCHEDULED':
      return 'scheduled';
    case 'QUEUED':
      return 'queued';
    case 'SENT':
      return 'sent';
    case 'DELIVERED':
      return 'delivered';
    case 'CANCELED':
      return 'canceled';
    default:
      return 'failed';
  }
}

export type StatusCounts = Record<StatusCounter, number>;

/**
 * The status of a message, from how many of its deliveries are in each state. Cancelled
 * deliveries do not count, unless all were cancelled.
 */
export function messageStatusOf(counts: StatusCounts, recipientCount: number): MessageStatus {
  if (counts.canceled === recipientCount) return 'CANCELED';
  if (counts.delivered + counts.failed + counts.canceled === recipientCount) {
    if (counts.failed === 0) return 'DELIVERED';
    if (counts.delivered === 0) return 'FAILED';
    return 'PARTIALLY_DELIVERED';
  }
  if (counts.queued > 0) return 'QUEUED';
  if (counts.sent > 0) return 'SENT';
  return 'SCHEDULED';
}
