import { Prisma } from '../db/sql.ts';

/** The one decimal type for money (decimal.js, as Prisma returns it): never float arithmetic. */
export const Decimal = Prisma.Decimal;
export type Decimal = Prisma.Decimal;

/** Money as shown to users: at least two decimals, trailing zeros beyond them dropped ("12.50", "0.015"). */
export function formatMoney(value: Decimal | string | number): string {
  const [whole, fraction = ''] = new Decimal(value.toString()).toFixed(4).split('.');
  return `${whole}.${fraction.replace(/0+$/, '').padEnd(2, '0')}`;
}
