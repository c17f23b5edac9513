-- The event log (with the providers' raw payloads) and the attempts are kept for
-- EVENT_RETENTION_DAYS and then removed a day at a time by dropping a partition, not by
-- deleting rows (see src/deliveries/retention.ts, which creates each day's partition ahead).
-- Rows written before this migration, and any that find no day's partition, go to a default
-- partition, which retention empties of rows older than the window.

ALTER TABLE "delivery_events" RENAME TO "delivery_events_before_partitions";
ALTER TABLE "delivery_events_before_partitions" RENAME CONSTRAINT "delivery_events_pkey" TO "delivery_events_before_partitions_pkey";
ALTER INDEX "delivery_events_account_id_message_id_seq_idx" RENAME TO "delivery_events_before_partitions_message_idx";

-- By the time of the change. The number is unique per account by construction (one counter
-- row per account hands them out), so the key carries the partition column as PostgreSQL asks.
CREATE TABLE "delivery_events" (
    LIKE "delivery_events_before_partitions" INCLUDING DEFAULTS,
    CONSTRAINT "delivery_events_pkey" PRIMARY KEY ("account_id", "seq", "occurred_at")
) PARTITION BY RANGE ("occurred_at");
CREATE INDEX "delivery_events_account_id_message_id_seq_idx" ON "delivery_events" ("account_id", "message_id", "seq");
CREATE TABLE "delivery_events_default" PARTITION OF "delivery_events" DEFAULT;
INSERT INTO "delivery_events" SELECT * FROM "delivery_events_before_partitions";
DROP TABLE "delivery_events_before_partitions";

-- By the creation time of the delivery they belong to, which every reader knows: reading a
-- delivery's attempts then opens one partition, not one per day of the window.
ALTER TABLE "delivery_attempts" RENAME TO "delivery_attempts_before_partitions";
ALTER TABLE "delivery_attempts_before_partitions" RENAME CONSTRAINT "delivery_attempts_pkey" TO "delivery_attempts_before_partitions_pkey";
ALTER INDEX "delivery_attempts_delivery_id_id_idx" RENAME TO "delivery_attempts_before_partitions_delivery_idx";
CREATE TABLE "delivery_attempts" (
    "id" BIGSERIAL NOT NULL,
    "delivery_id" UUID NOT NULL,
    "delivery_created_at" TIMESTAMPTZ(3) NOT NULL,
    "provider" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "outcome" TEXT NOT NULL,
    "error_code" TEXT,
    "error_message" TEXT,
    CONSTRAINT "delivery_attempts_pkey" PRIMARY KEY ("id", "delivery_created_at")
) PARTITION BY RANGE ("delivery_created_at");
CREATE INDEX "delivery_attempts_delivery_id_id_idx" ON "delivery_attempts" ("delivery_id", "id");
CREATE TABLE "delivery_attempts_default" PARTITION OF "delivery_attempts" DEFAULT;
INSERT INTO "delivery_attempts" ("id", "delivery_id", "delivery_created_at", "provider", "at", "outcome", "error_code", "error_message")
SELECT a."id", a."delivery_id", COALESCE(d."created_at", a."at"), a."provider", a."at", a."outcome", a."error_code", a."error_message"
FROM "delivery_attempts_before_partitions" a LEFT JOIN "deliveries" d ON d."id" = a."delivery_id";
SELECT setval(pg_get_serial_sequence('"delivery_attempts"', 'id'), GREATEST((SELECT max("id") FROM "delivery_attempts"), 1));
DROP TABLE "delivery_attempts_before_partitions";

-- The highest event number of each account that retention has removed: a cursor at or before
-- it cannot be resumed from, and says so (CURSOR_EXPIRED) instead of skipping what is gone.
ALTER TABLE "account_event_seqs" ADD COLUMN "pruned_through" BIGINT NOT NULL DEFAULT 0;
