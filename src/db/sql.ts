// Re-exports for raw SQL: hot paths (acceptance, transitions, dispatch) write many rows per
// statement, which the query builder cannot express.
export { Prisma } from './generated/prisma/client.ts';
export type {
  Delivery,
  DeliveryAttempt,
  Message,
} from './generated/prisma/client.ts';
export { DeliveryStatus, MessageStatus, SmsEncoding, DispatchJobKind, LedgerKind } from './generated/prisma/enums.ts';
export type { TransactionClient } from './generated/prisma/internal/prismaNamespace.ts';
