import type { Db } from '../../src/db/client.ts';

/** What a failed request must leave untouched: the account's rows and its balance. */
export async function accountState(db: Db, accountId: string) {
  const [messages, deliveries, ledger, events, account] = await Promise.all([
    db.message.count({ where: { accountId } }),
    db.delivery.count({ where: { accountId } }),
    db.ledgerEntry.count({ where: { accountId } }),
    db.deliveryEvent.count({ where: { accountId } }),
    db.account.findUniqueOrThrow({ where: { id: accountId }, select: { balance: true } }),
  ]);
  return { messages, deliveries, ledger, events, balance: account.balance.toString() };
}
