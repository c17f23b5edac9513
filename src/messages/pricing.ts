import { Decimal } from './money.ts';

export type PriceTable = Record<string, Record<string, string>>;

export class UnpricedCurrencyError extends Error {}

export function supportsCurrency(table: PriceTable, currency: string): boolean {
  return table[currency] !== undefined;
}

/** Price of one segment to `country`, in `currency`. */
export function segmentPrice(table: PriceTable, currency: string, country: string): Decimal {
  const prices = table[currency];
  if (!prices) throw new UnpricedCurrencyError(`no prices in ${currency}`);
  return new Decimal(prices[country] ?? prices.default ?? '0');
}

/**
 * Price of one segment to `country` for an account: a sub-account's own price for the country
 * (or its own default) when it has one, else the gateway's table in the account's currency.
 */
export function accountSegmentPrice(
  table: PriceTable,
  account: { currency: string; prices?: Readonly<Record<string, string>> | null },
  country: string,
): Decimal {
  const own = account.prices?.[country] ?? account.prices?.default;
  return own === undefined ? segmentPrice(table, account.currency, country) : new Decimal(own);
}
