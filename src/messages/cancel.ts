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
  text: `WITH wanted AS (
      SELECT coalesce(array_agg(id), '{}') AS ids FROM deliveries WHERE message_id = $1 AND status = 'SCHEDULED'
    ), free AS (
      SELECT j.id, j.delivery_ids FROM dispatch_jobs j, wanted
      WHERE j.kind = 'SUBMIT' AND j.delivery_ids && wanted.ids AND (j.locked_until IS NULL OR j.locked_until < now())
      ORDER BY j.id
      FOR UPDATE OF j SKIP LOCKED
    ), emptied AS (
      DELETE FROM dispatch_jobs j USING free, wanted WHERE j.id = free.id AND free.delivery_ids <@ wanted.ids
    ), shrunk AS (
      UPDATE dispatch_jobs j SET delivery_ids = ARRAY(SELECT x FROM unnest(j.delivery_ids) x WHERE x <> ALL(wanted.ids))
      FROM free, wanted WHERE j.id = free.id AND NOT free.delivery_ids <@ wanted.ids
    )
    SELECT x AS "deliveryId" FROM free, wanted, unnest(free.delivery_ids) x WHERE x = ANY(wanted.ids)`,
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
