-- Adaptive routing (issue 21): what happened to each provider's messages per destination, counted
-- from the event log a few seconds at a time (src/routing/counting.ts), the operators' pins, the
-- customers' conversions, and why each delivery went where it went. Nothing here is written by
-- the hot paths but the new column; counting reads the event log by its key.

-- Why the delivery's first provider was chosen (src/routing/explanation.ts); null under
-- ROUTING_MODE=static, where the route's configured order decides.
ALTER TABLE "deliveries" ADD COLUMN "routing" JSONB;

-- A customer's word that a delivery arrived (reportConversion), with where it went, so that
-- counting needs no join.
CREATE TABLE "delivery_conversions" (
    "delivery_id" UUID NOT NULL,
    "account_id" UUID NOT NULL,
    "provider" TEXT NOT NULL,
    "country" VARCHAR(2) NOT NULL,
    "recipient" TEXT NOT NULL,
    "converted_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "delivery_conversions_pkey" PRIMARY KEY ("delivery_id")
);
CREATE INDEX "delivery_conversions_converted_at_idx" ON "delivery_conversions" ("converted_at");

-- Counts per provider and destination (a country, "TZ", or a network prefix, "+25571") in
-- buckets of time as the counting gateway's clock reads it; the routing window sums the last
-- buckets. `latency` counts delivered messages by seconds from submission to DELIVERED, in the
-- bins of src/routing/latency.ts.
CREATE TABLE "routing_counts" (
    "bucket" BIGINT NOT NULL,
    "provider" TEXT NOT NULL,
    "destination" TEXT NOT NULL,
    "country" VARCHAR(2) NOT NULL,
    "reports" INTEGER NOT NULL DEFAULT 0,
    "delivered" INTEGER NOT NULL DEFAULT 0,
    "segments" INTEGER NOT NULL DEFAULT 0,
    "conversions" INTEGER NOT NULL DEFAULT 0,
    "errors" INTEGER NOT NULL DEFAULT 0,
    "out_of_credit" INTEGER NOT NULL DEFAULT 0,
    "wait_seconds" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "latency" INTEGER[] NOT NULL,
    CONSTRAINT "routing_counts_pkey" PRIMARY KEY ("bucket", "provider", "destination")
);

-- How far counting has come (one row): when it last ran (the events it reads next happened at
-- most an hour before), the conversions made before `conversions_through`, the attempts up to
-- `attempts_through` (their id).
CREATE TABLE "routing_cursor" (
    "id" SMALLINT NOT NULL,
    "counted_at" TIMESTAMPTZ(3) NOT NULL,
    "conversions_through" TIMESTAMPTZ(3) NOT NULL,
    "attempts_through" BIGINT NOT NULL,
    CONSTRAINT "routing_cursor_pkey" PRIMARY KEY ("id")
);

-- The last event of each account that counting has read. An account's events commit in the
-- order of their numbers (see append_delivery_events), so what lies between this and the
-- account's last number is exactly what is new.
CREATE TABLE "routing_event_cursors" (
    "account_id" UUID NOT NULL,
    "counted_seq" BIGINT NOT NULL,
    CONSTRAINT "routing_event_cursors_pkey" PRIMARY KEY ("account_id")
);

-- A destination an operator sends through one provider whatever the measurements say.
CREATE TABLE "routing_pins" (
    "destination" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "routing_pins_pkey" PRIMARY KEY ("destination")
);

-- accept_messages as in 20261206100000_dispatch_groups, with each delivery's "routing" (null
-- when absent) written with it, and each job's "pacedProvider" (see dispatch_jobs.paced_provider).
ALTER TYPE "accept_delivery" ADD ATTRIBUTE "routing" JSONB;

CREATE OR REPLACE FUNCTION "accept_messages"(requests JSON, deliveries JSON, jobs JSON, check_opt_outs BOOLEAN, at TIMESTAMPTZ)
RETURNS TABLE (ord INT, outcome TEXT, message_id UUID, first_seq BIGINT, detail JSON) LANGUAGE plpgsql AS $$
DECLARE
  reqs "accept_request"[];
  dels "accept_delivery"[];
  listed UUID[];
  r RECORD;
  balances JSONB;
  balance NUMERIC;
  accepted INT[] := '{}';
  opted JSON;
  firsts JSON;
BEGIN
  -- Rows are found by key (see record_known_changes).
  PERFORM set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
    set_config('enable_mergejoin', 'off', true);
  SELECT coalesce(array_agg(q ORDER BY q."ord"), '{}') INTO reqs FROM json_populate_recordset(NULL::"accept_request", requests) q;
  SELECT coalesce(array_agg(d), '{}') INTO dels FROM json_populate_recordset(NULL::"accept_delivery", deliveries) d;

  IF check_opt_outs THEN
    -- Only accounts that have a list are looked up, each number on the list's primary key.
    SELECT array_agg(DISTINCT q."accountId") INTO listed FROM unnest(reqs) q
    WHERE EXISTS (SELECT 1 FROM "opt_outs" o WHERE o."account_id" = q."accountId");
    IF listed IS NOT NULL THEN
      SELECT json_object_agg(h.ord, h.recipients) INTO opted FROM (
        SELECT d."ord", json_agg(d."recipient") AS recipients
        FROM unnest(dels) d JOIN unnest(reqs) q ON q."ord" = d."ord"
        WHERE q."accountId" = ANY(listed)
          AND EXISTS (SELECT 1 FROM "opt_outs" o WHERE o."account_id" = q."accountId" AND o."recipient" = d."recipient")
        GROUP BY d."ord"
      ) h;
      IF opted IS NOT NULL THEN
        RETURN QUERY SELECT e.key::int, 'opted_out'::text, NULL::uuid, NULL::bigint, e.value FROM json_each(opted) e;
        RETURN;
      END IF;
    END IF;
  END IF;

  SELECT jsonb_object_agg(a.id, a.balance) INTO balances FROM (
    SELECT x."id", x."balance" FROM "accounts" x
    WHERE x."id" IN (SELECT q."accountId" FROM unnest(reqs) q)
    ORDER BY x."id" FOR UPDATE
  ) a;

  FOR r IN
    SELECT q."ord" AS request_ord, q."accountId" AS account_id, q."requestHash" AS request_hash, q."cost" AS cost,
      m."id" AS taken_id, m."request_hash" AS taken_hash, m."rejected_recipients" AS taken_rejected
    FROM unnest(reqs) q
    LEFT JOIN "messages" m ON m."account_id" = q."accountId" AND m."reference" = q."reference"
    ORDER BY q."ord"
  LOOP
    IF r.taken_id IS NOT NULL THEN
      IF r.taken_hash = r.request_hash THEN
        RETURN QUERY SELECT r.request_ord, 'replay'::text, r.taken_id, NULL::bigint, r.taken_rejected::json;
      ELSE
        RETURN QUERY SELECT r.request_ord, 'duplicate'::text, NULL::uuid, NULL::bigint, NULL::json;
      END IF;
      CONTINUE;
    END IF;
    balance := coalesce((balances ->> r.account_id::text)::numeric, 0);
    IF r.cost > 0 AND balance < r.cost THEN
      RETURN QUERY SELECT r.request_ord, 'short'::text, NULL::uuid, NULL::bigint, NULL::json;
      CONTINUE;
    END IF;
    balances := jsonb_set(balances, ARRAY[r.account_id::text], to_jsonb(balance - r.cost));
    accepted := accepted || r.request_ord;
  END LOOP;
  IF cardinality(accepted) = 0 THEN RETURN; END IF;

  WITH q AS (
    SELECT * FROM unnest(reqs) q WHERE q."ord" = ANY(accepted)
  ), d AS (
    SELECT d.*, q."id" AS message_id, q."accountId" AS account_id, q."senderId" AS sender_id, q."status" AS delivery_status
    FROM unnest(dels) d JOIN q ON q."ord" = d."ord"
  ), messages_in AS (
    INSERT INTO "messages" ("id", "account_id", "text", "sender_id", "reference", "request_hash", "status", "encoding", "segments",
      "recipient_count", "cost", "currency", "requested_provider", "rejected_recipients", "scheduled_at", "scheduled_count",
      "queued_count", "created_at", "updated_at")
    SELECT q."id", q."accountId", q."text", q."senderId", q."reference", q."requestHash", q."status"::"MessageStatus",
      q."encoding"::"SmsEncoding", q."segments", q."recipientCount", q."cost", q."currency", q."requestedProvider", q."rejected",
      q."scheduledAt", CASE WHEN q."status" = 'SCHEDULED' THEN q."recipientCount" ELSE 0 END,
      CASE WHEN q."status" = 'SCHEDULED' THEN 0 ELSE q."recipientCount" END, at, at
    FROM q
  ), deliveries_in AS (
    INSERT INTO "deliveries" ("id", "message_id", "account_id", "recipient", "sender_id", "country", "body", "variables", "segments",
      "price", "status", "route", "routing", "created_at", "updated_at")
    SELECT d."id", d.message_id, d.account_id, d."recipient", d.sender_id, d."country", d."body", d."variables", d."segments", d."price",
      d.delivery_status::"DeliveryStatus", d."route", d."routing", at, at
    FROM d
  ), jobs_in AS (
    INSERT INTO "dispatch_jobs" ("id", "kind", "delivery_ids", "run_at", "attempt", "locked_by", "locked_until", "created_at",
      "paced_provider")
    SELECT j.id, 'SUBMIT', g.ids,
      CASE WHEN j."leasedBy" IS NULL THEN j."runAt" ELSE now() + j."leaseMs" * interval '1 millisecond' END,
      CASE WHEN j."leasedBy" IS NULL THEN 0 ELSE 1 END, j."leasedBy",
      CASE WHEN j."leasedBy" IS NULL THEN NULL ELSE now() + j."leaseMs" * interval '1 millisecond' END, at, j."pacedProvider"
    FROM json_to_recordset(jobs) AS j(id UUID, "runAt" TIMESTAMPTZ, "leasedBy" TEXT, "leaseMs" INT, "pacedProvider" TEXT)
    JOIN (SELECT d."job", array_agg(d."id" ORDER BY d."ord", d."idx") AS ids FROM d GROUP BY d."job") g ON g."job" = j.id
  ), debits AS (
    SELECT q."accountId" AS account_id, sum(q."cost") AS total FROM q WHERE q."cost" > 0 GROUP BY q."accountId"
  ), debited AS (
    -- The CHECK constraint on accounts.balance backs the decisions above.
    UPDATE "accounts" a SET "balance" = a."balance" - debits.total, "updated_at" = at
    FROM debits WHERE a."id" = debits.account_id
    RETURNING a."id", a."balance"
  ), ledger_in AS (
    INSERT INTO "ledger_entries" ("account_id", "kind", "amount", "balance_after", "message_id", "note")
    SELECT q."accountId", 'DEBIT', -q."cost",
      debited."balance" + COALESCE(sum(q."cost") OVER (PARTITION BY q."accountId" ORDER BY q."ord"
        ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), 0),
      q."id", 'sendSms'
    FROM q JOIN debited ON debited."id" = q."accountId"
    WHERE q."cost" > 0
  ), seqs AS (
    SELECT "append_delivery_events"(
      (SELECT array_agg(ROW(d."id", d.account_id, d.message_id, d.delivery_status, NULL, d.delivery_status,
         NULL, NULL, NULL, NULL, NULL, NULL, NULL)::"status_change" ORDER BY d."ord", d."idx") FROM d),
      '{}'::json, at) AS blocks
  ), counted AS (
    SELECT d."ord", d.account_id, count(*) AS n FROM d GROUP BY d."ord", d.account_id
  )
  SELECT json_object_agg(x."ord", x.first::text) INTO firsts FROM (
    SELECT c."ord", (s.blocks ->> c.account_id::text)::bigint
      - sum(c.n) OVER (PARTITION BY c.account_id ORDER BY c."ord" ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) + 1 AS first
    FROM counted c CROSS JOIN seqs s
  ) x;

  RETURN QUERY SELECT q."ord", 'accepted'::text, q."id", (firsts ->> q."ord"::text)::bigint, NULL::json
  FROM unnest(reqs) q WHERE q."ord" = ANY(accepted);
END $$;
