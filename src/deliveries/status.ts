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

// A message's status follows from how many of its deliveries are in each state: cancelled
// deliveries do not count unless all were cancelled; all final is DELIVERED, FAILED or
// PARTIALLY_DELIVERED; otherwise QUEUED while any waits, then SENT, else SCHEDULED. The database
// keeps it with the counts, in the same statement (message_status in the migrations).
