-- deliveryReports at any history size (issue 11).

-- How many of the account's deliveries are in each status, kept by the statement that numbers
-- the account's events (every status change is an event), so `totalCount` without a filter, or
-- with only a status, is one row read instead of a count over the account's deliveries.
ALTER TABLE "account_event_seqs"
  ADD COLUMN "scheduled" BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN "queued" BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN "sent" BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN "delivered" BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN "failed" BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN "expired" BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN "rejected" BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN "canceled" BIGINT NOT NULL DEFAULT 0;

INSERT INTO "account_event_seqs" ("account_id", "last_seq", "scheduled", "queued", "sent", "delivered", "failed", "expired", "rejected", "canceled")
SELECT "account_id", 0,
  count(*) FILTER (WHERE "status"::text = 'SCHEDULED'), count(*) FILTER (WHERE "status"::text = 'QUEUED'),
  count(*) FILTER (WHERE "status"::text = 'SENT'), count(*) FILTER (WHERE "status"::text = 'DELIVERED'),
  count(*) FILTER (WHERE "status"::text = 'FAILED'), count(*) FILTER (WHERE "status"::text = 'EXPIRED'),
  count(*) FILTER (WHERE "status"::text = 'REJECTED'), count(*) FILTER (WHERE "status"::text = 'CANCELED')
FROM "deliveries" GROUP BY "account_id"
ON CONFLICT ("account_id") DO UPDATE SET "scheduled" = EXCLUDED."scheduled", "queued" = EXCLUDED."queued",
  "sent" = EXCLUDED."sent", "delivered" = EXCLUDED."delivered", "failed" = EXCLUDED."failed",
  "expired" = EXCLUDED."expired", "rejected" = EXCLUDED."rejected", "canceled" = EXCLUDED."canceled";

-- The sender id of the delivery's message, on the delivery, so that a sender filter walks an
-- index in the order of the report instead of joining every message of the account.
ALTER TABLE "deliveries" ADD COLUMN "sender_id" TEXT;
UPDATE "deliveries" d SET "sender_id" = m."sender_id" FROM "messages" m WHERE m."id" = d."message_id";
UPDATE "deliveries" SET "sender_id" = '' WHERE "sender_id" IS NULL;
ALTER TABLE "deliveries" ALTER COLUMN "sender_id" SET NOT NULL;

-- Each filter of DeliveryReportFilter, in the report's order (newest first, then id).
CREATE INDEX "deliveries_account_id_recipient_created_at_id_idx" ON "deliveries" ("account_id", "recipient", "created_at" DESC, "id" DESC);
CREATE INDEX "deliveries_account_id_sender_id_created_at_id_idx" ON "deliveries" ("account_id", "sender_id", "created_at" DESC, "id" DESC);
DROP INDEX "deliveries_message_id_idx";
CREATE INDEX "deliveries_message_id_created_at_id_idx" ON "deliveries" ("message_id", "created_at" DESC, "id" DESC);
