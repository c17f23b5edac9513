// The generated row types, enums and Prisma namespace, for code that reads and writes rows with
// plain pg (see pg.ts) as well as through the client.
export { Prisma } from './generated/prisma/client.ts';
export type {
  Delivery,
  DeliveryAttempt,
  Message,
} from './generated/prisma/client.ts';
export { DeliveryStatus, MessageStatus, SmsEncoding, DispatchJobKind, LedgerKind } from './generated/prisma/enums.ts';
