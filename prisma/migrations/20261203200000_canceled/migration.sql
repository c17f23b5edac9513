-- cancelMessage: a SCHEDULED delivery can end CANCELED (refunded), and a message whose
-- deliveries were all cancelled is CANCELED. On its own: a new enum value cannot be used in
-- the transaction that adds it.
ALTER TYPE "DeliveryStatus" ADD VALUE 'CANCELED';
ALTER TYPE "MessageStatus" ADD VALUE 'CANCELED';

ALTER TABLE "messages" ADD COLUMN "canceled_count" INTEGER NOT NULL DEFAULT 0;
