import type { Db } from '../db/client.ts';
import type { Publisher } from '../deliveries/publish.ts';
import type { DeliveryUpdate } from '../deliveries/records.ts';
import { recordPickedTransitions } from '../deliveries/transitions.ts';
import { refundUndelivered } from '../dispatch/refunds.ts';

/**
 * Takes from the queue the submissions of the message's SCHEDULED deliveries that no dispatcher
 * holds: one being claimed right now is skipped (SKIP LOCKED), one claimed already is left by
 * its lease. A dispatcher that claims later finds no job. So a delivery is either cancelled or
 * sent, never both.
 */
const TAKE_SCHEDULED = {
  name: 'cancel-take-scheduled',
  text: `DELETE FROM dispatch_jobs WHERE id = ANY(ARRAY(
      SELECT j.id FROM deliveries d JOIN dispatch_jobs j ON j.delivery_id = d.id AND j.kind = 'SUBMIT'
      WHERE d.message_id = $1 AND d.status = 'SCHEDULED' AND (j.locked_until IS NULL OR j.locked_until < now())
      ORDER BY j.id
      FOR UPDATE OF j SKIP LOCKED))
    RETURNING delivery_id AS "deliveryId"`,
};

/**
 * Cancels what is left to cancel of a message, in one transaction: its deliveries taken from
 * the queue become CANCELED, each with its event, and their price is credited back. Returns the
 * updates (none when nothing could be cancelled).
 */
export function cancelScheduled(deps: { db: Db } & Publisher, messageId: string): Promise<DeliveryUpdate[]> {
  return recordPickedTransitions(
    deps,
    async (tx) => {
      const taken = await tx.query<{ deliveryId: string }>(TAKE_SCHEDULED, [messageId]);
      return taken.map((row) => ({
        deliveryId: row.deliveryId,
        status: 'CANCELED' as const,
        onlyFrom: ['SCHEDULED'] as const,
      }));
    },
    { also: (tx, applied) => refundUndelivered(tx, applied, 'cancelled before sending') },
  );
}
