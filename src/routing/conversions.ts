import { sqlOf, type Db } from '../db/client.ts';
import { GatewayError } from '../shared/errors.ts';

const RECORD = {
  name: 'routing-record-conversion',
  text: `WITH found AS (
      SELECT id, account_id, provider, country, recipient, sent_at FROM deliveries WHERE id = $1 AND account_id = $2
    ), recorded AS (
      INSERT INTO delivery_conversions (delivery_id, account_id, provider, country, recipient)
      SELECT id, account_id, provider, country, recipient FROM found WHERE provider IS NOT NULL AND sent_at IS NOT NULL
      ON CONFLICT (delivery_id) DO NOTHING
    )
    SELECT provider, sent_at IS NOT NULL AS sent FROM found`,
};

/**
 * Records the customer's word that a delivery arrived (an OTP was used): counted with the
 * provider that carried it, above its delivery reports (see measurements.ts). Saying it twice
 * counts once. Only a delivery a provider took can have arrived.
 */
export async function recordConversion(db: Db, accountId: string, deliveryId: string): Promise<void> {
  const [found] = await sqlOf(db).query<{ provider: string | null; sent: boolean }>(RECORD, [deliveryId, accountId]);
  if (!found) throw new GatewayError('DELIVERY_NOT_FOUND', 'No delivery has this id.');
  if (!found.provider || !found.sent) {
    throw new GatewayError('DELIVERY_NOT_SENT', 'This delivery was not handed to a provider, so it cannot have arrived.');
  }
}
