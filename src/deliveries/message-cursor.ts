import { sqlOf, type Db } from '../db/client.ts';
import { encodeCursor } from './event-log.ts';

const BEFORE_MESSAGE = {
  name: 'message-cursor-before',
  text: `SELECT (min(seq) - 1)::text AS seq FROM delivery_events WHERE account_id = $1 AND message_id = $2`,
};

/**
 * The cursor just before a message's first update in its account's log: a subscription with it
 * as `after` sees every update of the message, then the live ones. Null when none is kept.
 */
export async function cursorBeforeMessage(db: Db, accountId: string, messageId: string): Promise<string | null> {
  const [row] = await sqlOf(db).query<{ seq: string | null }>(BEFORE_MESSAGE, [accountId, messageId]);
  return row?.seq == null ? null : encodeCursor(BigInt(row.seq));
}
