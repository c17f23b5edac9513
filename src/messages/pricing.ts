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
