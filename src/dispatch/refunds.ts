import type { SqlTransaction } from '../db/pg.ts';
import type { AppliedTransition } from '../deliveries/transitions.ts';

const REFUNDABLE = {
  name: 'refunds-find',
  text: `SELECT d.id, d.account_id AS "accountId", d.message_id AS "messageId", d.price::text AS price
    FROM deliveries d
    WHERE d.id = ANY(ARRAY(SELECT unnest($1::uuid[]))) AND d.price > 0
      AND NOT EXISTS (SELECT 1 FROM ledger_entries l WHERE l.kind = 'REFUND' AND l.delivery_id = d.id)
    ORDER BY d.account_id`,
};

// Balances are locked in one order, whatever the plan of the update below: two refunds of the
// same accounts at once must queue, not deadlock.
const LOCK_ACCOUNTS = { name: 'refunds-lock-accounts', text: `SELECT id FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE` };

// One statement: credit each account the sum of its refunds, then record each refund with the
// balance as it stood after that refund.
const CREDIT = {
  name: 'refunds-credit',
  text: `
    WITH refund AS (
      SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::numeric[])
        WITH ORDINALITY AS t(delivery_id, account_id, message_id, amount, ord)
    ), credited AS (
      UPDATE accounts a SET balance = a.balance + s.total, updated_at = now()
      FROM (SELECT account_id, sum(amount) AS total FROM refund GROUP BY account_id) s
      WHERE a.id = s.account_id
      RETURNING a.id, a.balance
    )
    INSERT INTO ledger_entries (account_id, kind, amount, balance_after, message_id, delivery_id, note)
    SELECT r.account_id, 'REFUND', r.amount,
      c.balance - COALESCE(sum(r.amount) OVER (PARTITION BY r.account_id ORDER BY r.ord
        ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), 0),
      r.message_id, r.delivery_id, $5
    FROM refund r JOIN credited c ON c.id = r.account_id`,
};

/**
 * Credits back the price of deliveries that ended without any provider taking them (or were
 * cancelled before one did). Runs in the transaction that makes them final, which holds their
 * row locks; the ledger's one-refund-per-delivery index guards against a second refund all the same.
 */
export async function refundUndelivered(tx: SqlTransaction, finals: AppliedTransition[], note = 'not delivered by any provider'): Promise<void> {
  if (finals.length === 0) return;
  const rows = await tx.query<{ id: string; accountId: string; messageId: string; price: string }>(REFUNDABLE, [finals.map((t) => t.deliveryId)]);
  if (rows.length === 0) return;
  await tx.query(LOCK_ACCOUNTS, [[...new Set(rows.map((r) => r.accountId))]]);
  await tx.query(CREDIT, [rows.map((r) => r.id), rows.map((r) => r.accountId), rows.map((r) => r.messageId), rows.map((r) => r.price), note]);
}
