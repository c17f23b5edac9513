import { Decimal } from '../../src/messages/money.ts';
import { Ledger } from './account-documents.ts';
import { gqlData } from './client.ts';

type Entry = { amount: string; balanceAfter: string; kind: string; messageId?: string | null; counterpartAccountId?: string | null };

/** Every entry of a ledger, newest first, read a page at a time as a client would. */
export async function wholeLedger(graphqlUrl: string, apiKey: string, accountId?: string): Promise<Entry[]> {
  const entries: Entry[] = [];
  let after: string | null | undefined;
  do {
    const page = await gqlData(graphqlUrl, apiKey, Ledger, { accountId, first: 100, after });
    entries.push(...page.ledger.edges.map((edge) => edge.node));
    after = page.ledger.pageInfo.hasNextPage ? page.ledger.pageInfo.endCursor : undefined;
  } while (after);
  return entries;
}

/** The entries added up, as an auditor would. */
export function ledgerSum(entries: Entry[]): Decimal {
  return entries.reduce((sum, entry) => sum.plus(entry.amount), new Decimal(0));
}
