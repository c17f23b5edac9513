-- Dispatch work by the group, and the hot writes in one round trip each.
--
-- A dispatch job now names a group of deliveries acted on together: the deliveries accepted
-- together for one provider and sender (one submission), a submission being retried, or the
-- deliveries of a submission waiting for their reports. A job per delivery made five writes to
-- this table per recipient (insert, claim, to POLL, claim, delete); a queue table written at that
-- rate and vacuumed seldom (or never: this project's machines run with autovacuum off) is mostly
-- dead rows, and its claim became the slowest statement of the gateway (issue 18). A group's job
-- id is also the reference of its submission: stored before the submission is made, the same on
-- every retry of it.

ALTER TABLE "dispatch_jobs" RENAME TO "dispatch_jobs_per_delivery";
ALTER TABLE "dispatch_jobs_per_delivery" RENAME CONSTRAINT "dispatch_jobs_pkey" TO "dispatch_jobs_per_delivery_pkey";
DROP INDEX "dispatch_jobs_run_at_idx";

CREATE TABLE "dispatch_jobs" (
    "id" UUID NOT NULL,
    "kind" "DispatchJobKind" NOT NULL,
    "delivery_ids" UUID[] NOT NULL,
    "run_at" TIMESTAMPTZ(3) NOT NULL,
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "locked_by" TEXT,
    "locked_until" TIMESTAMPTZ(3),
    "unconfirmed_since" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "dispatch_jobs_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "dispatch_jobs_run_at_idx" ON "dispatch_jobs" ("run_at");

-- Work waiting at the upgrade: a submission tried before stays one job under its reference; the
-- rest become a job each, as they were.
INSERT INTO "dispatch_jobs" ("id", "kind", "delivery_ids", "run_at", "attempt", "unconfirmed_since", "created_at")
SELECT "submission_ref"::uuid, 'SUBMIT', array_agg("delivery_id" ORDER BY "delivery_id"), min("run_at"), max("attempt"),
  min("unconfirmed_since"), min("created_at")
FROM "dispatch_jobs_per_delivery"
WHERE "kind" = 'SUBMIT' AND "submission_ref" ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
GROUP BY "submission_ref";
INSERT INTO "dispatch_jobs" ("id", "kind", "delivery_ids", "run_at", "attempt", "unconfirmed_since", "created_at")
SELECT gen_random_uuid(), "kind", ARRAY["delivery_id"], "run_at", "attempt", "unconfirmed_since", "created_at"
FROM "dispatch_jobs_per_delivery"
WHERE NOT ("kind" = 'SUBMIT' AND "submission_ref" ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$');
DROP TABLE "dispatch_jobs_per_delivery";

-- A message's status from how many of its deliveries are in each state (src/deliveries/status.ts
-- documents the rule; this is its only implementation). Cancelled deliveries do not count,
-- unless all were cancelled.
CREATE FUNCTION "message_status"(recipients INT, scheduled INT, queued INT, sent INT, delivered INT, failed INT, canceled INT)
RETURNS "MessageStatus" LANGUAGE sql IMMUTABLE AS $$
  SELECT (CASE
    WHEN canceled = recipients THEN 'CANCELED'
    WHEN delivered + failed + canceled = recipients THEN
      CASE WHEN failed = 0 THEN 'DELIVERED' WHEN delivered = 0 THEN 'FAILED' ELSE 'PARTIALLY_DELIVERED' END
    WHEN queued > 0 THEN 'QUEUED'
    WHEN sent > 0 THEN 'SENT'
    ELSE 'SCHEDULED'
  END)::"MessageStatus"
$$;

-- Moves the messages' per-status counts by status changes of their deliveries (a JSON array of
-- {"messageId", "from", "to"}; "from" null for a new delivery) and sets their status from them.
-- The messages are locked in id order first, as every writer of them does. Returns
-- {"<message id>": "<status>"}.
CREATE FUNCTION "apply_message_changes"(changes JSON, at TIMESTAMPTZ) RETURNS JSON LANGUAGE plpgsql AS $$
DECLARE
  ids UUID[];
  statuses JSON;
BEGIN
  SELECT array_agg(DISTINCT c."messageId" ORDER BY c."messageId") INTO ids
  FROM json_to_recordset(changes) AS c("messageId" UUID);
  IF ids IS NULL THEN RETURN '{}'::json; END IF;
  PERFORM 1 FROM "messages" WHERE "id" = ANY(ids) ORDER BY "id" FOR UPDATE;
  WITH c AS (
    SELECT "messageId" AS message_id,
      CASE WHEN "from" IN ('FAILED', 'EXPIRED', 'REJECTED') THEN 'FAILED' ELSE "from" END AS f,
      CASE WHEN "to" IN ('FAILED', 'EXPIRED', 'REJECTED') THEN 'FAILED' ELSE "to" END AS t
    FROM json_to_recordset(changes) AS c("messageId" UUID, "from" TEXT, "to" TEXT)
  ), d AS (
    SELECT message_id,
      count(*) FILTER (WHERE t = 'SCHEDULED') - count(*) FILTER (WHERE f = 'SCHEDULED') AS scheduled,
      count(*) FILTER (WHERE t = 'QUEUED') - count(*) FILTER (WHERE f = 'QUEUED') AS queued,
      count(*) FILTER (WHERE t = 'SENT') - count(*) FILTER (WHERE f = 'SENT') AS sent,
      count(*) FILTER (WHERE t = 'DELIVERED') - count(*) FILTER (WHERE f = 'DELIVERED') AS delivered,
      count(*) FILTER (WHERE t = 'FAILED') - count(*) FILTER (WHERE f = 'FAILED') AS failed,
      count(*) FILTER (WHERE t = 'CANCELED') - count(*) FILTER (WHERE f = 'CANCELED') AS canceled
    FROM c GROUP BY message_id
  ), updated AS (
    UPDATE "messages" m SET
      "scheduled_count" = m."scheduled_count" + d.scheduled, "queued_count" = m."queued_count" + d.queued,
      "sent_count" = m."sent_count" + d.sent, "delivered_count" = m."delivered_count" + d.delivered,
      "failed_count" = m."failed_count" + d.failed, "canceled_count" = m."canceled_count" + d.canceled,
      "status" = "message_status"(m."recipient_count", m."scheduled_count" + d.scheduled::int, m."queued_count" + d.queued::int,
        m."sent_count" + d.sent::int, m."delivered_count" + d.delivered::int, m."failed_count" + d.failed::int,
        m."canceled_count" + d.canceled::int),
      "updated_at" = at
    FROM d WHERE m."id" = d.message_id
    RETURNING m."id", m."status"
  )
  SELECT json_object_agg("id", "status") INTO statuses FROM updated;
  RETURN coalesce(statuses, '{}'::json);
END $$;

-- (The functions below are PL/pgSQL, not SQL, so that their statements' plans are kept for the
-- session instead of made again at every call.)
--
-- Numbers and inserts events (a JSON array, in order), one block of numbers per account, and
-- moves the account's per-status counts by what they change. The block locks the account's
-- counter row until commit, which is what orders one account's events (a reader that has seen
-- number n has seen everything before it): call it last in a transaction. Each event is also
-- queued for every enabled webhook endpoint of its account. An event without "messageStatus"
-- takes its message's from `statuses` ({"<message id>": "<status>"}). Returns
-- {"<account id>": "<last number of its block>"}; an account's numbers are its block's last,
-- counted back by how many events it had, in the order given.
CREATE FUNCTION "append_delivery_events"(events JSON, statuses JSON, at TIMESTAMPTZ) RETURNS JSON LANGUAGE plpgsql AS $$
DECLARE
  last_seqs JSON;
BEGIN
  WITH input AS (
    SELECT t.*, coalesce(t."messageStatus", statuses ->> t."messageId"::text) AS message_status,
      row_number() OVER (PARTITION BY "accountId" ORDER BY ord) AS rank
    FROM ROWS FROM (json_to_recordset(events) AS ("accountId" UUID, "messageId" UUID, "deliveryId" UUID, status TEXT,
      "previousStatus" TEXT, "messageStatus" TEXT, provider TEXT, "providerMessageId" TEXT, "errorCode" TEXT,
      "errorMessage" TEXT, "sentAt" TIMESTAMPTZ, "deliveredAt" TIMESTAMPTZ, raw JSONB)) WITH ORDINALITY
      AS t("accountId", "messageId", "deliveryId", status, "previousStatus", "messageStatus", provider, "providerMessageId",
        "errorCode", "errorMessage", "sentAt", "deliveredAt", raw, ord)
  ), counts AS (
    SELECT "accountId" AS account_id, count(*) AS n,
      count(*) FILTER (WHERE status = 'SCHEDULED') - count(*) FILTER (WHERE "previousStatus" = 'SCHEDULED') AS scheduled,
      count(*) FILTER (WHERE status = 'QUEUED') - count(*) FILTER (WHERE "previousStatus" = 'QUEUED') AS queued,
      count(*) FILTER (WHERE status = 'SENT') - count(*) FILTER (WHERE "previousStatus" = 'SENT') AS sent,
      count(*) FILTER (WHERE status = 'DELIVERED') - count(*) FILTER (WHERE "previousStatus" = 'DELIVERED') AS delivered,
      count(*) FILTER (WHERE status = 'FAILED') - count(*) FILTER (WHERE "previousStatus" = 'FAILED') AS failed,
      count(*) FILTER (WHERE status = 'EXPIRED') - count(*) FILTER (WHERE "previousStatus" = 'EXPIRED') AS expired,
      count(*) FILTER (WHERE status = 'REJECTED') - count(*) FILTER (WHERE "previousStatus" = 'REJECTED') AS rejected,
      count(*) FILTER (WHERE status = 'CANCELED') - count(*) FILTER (WHERE "previousStatus" = 'CANCELED') AS canceled
    FROM input GROUP BY "accountId"
  ), blocks AS (
    -- In account order, so that concurrent writers lock the counters in the same order.
    INSERT INTO "account_event_seqs" ("account_id", "last_seq", "scheduled", "queued", "sent", "delivered", "failed", "expired", "rejected", "canceled")
    SELECT account_id, n, scheduled, queued, sent, delivered, failed, expired, rejected, canceled FROM counts ORDER BY account_id
    ON CONFLICT ("account_id") DO UPDATE SET "last_seq" = "account_event_seqs"."last_seq" + EXCLUDED."last_seq",
      "scheduled" = "account_event_seqs"."scheduled" + EXCLUDED."scheduled", "queued" = "account_event_seqs"."queued" + EXCLUDED."queued",
      "sent" = "account_event_seqs"."sent" + EXCLUDED."sent", "delivered" = "account_event_seqs"."delivered" + EXCLUDED."delivered",
      "failed" = "account_event_seqs"."failed" + EXCLUDED."failed", "expired" = "account_event_seqs"."expired" + EXCLUDED."expired",
      "rejected" = "account_event_seqs"."rejected" + EXCLUDED."rejected", "canceled" = "account_event_seqs"."canceled" + EXCLUDED."canceled"
    RETURNING "account_id", "last_seq"
  ), numbered AS (
    SELECT i.*, b."last_seq" - c.n + i.rank AS seq
    FROM input i JOIN blocks b ON b."account_id" = i."accountId" JOIN counts c ON c.account_id = i."accountId"
  ), events_in AS (
    INSERT INTO "delivery_events" ("account_id", "seq", "message_id", "delivery_id", "status", "message_status", "provider",
      "provider_message_id", "error_code", "error_message", "sent_at", "delivered_at", "raw", "occurred_at")
    SELECT "accountId", seq, "messageId", "deliveryId", status::"DeliveryStatus", message_status::"MessageStatus", provider,
      "providerMessageId", "errorCode", "errorMessage", "sentAt", "deliveredAt", raw, at
    FROM numbered
  ), hooks AS MATERIALIZED (
    -- One probe per account of the batch: an account without an enabled endpoint adds nothing more.
    SELECT w."id", w."account_id" FROM counts c JOIN "webhook_endpoints" w ON w."account_id" = c.account_id AND w."enabled"
  ), outbox_in AS (
    -- The intent to notify each endpoint commits with the event (see src/webhooks/outbox.ts).
    INSERT INTO "webhook_outbox" ("endpoint_id", "account_id", "seq", "occurred_at", "run_at")
    SELECT h."id", n."accountId", n.seq, at, at FROM hooks h JOIN numbered n ON n."accountId" = h."account_id"
  )
  SELECT coalesce(json_object_agg("account_id", "last_seq"::text), '{}'::json) INTO last_seqs FROM blocks;
  RETURN last_seqs;
END $$;

-- The end of every transaction that changes deliveries' statuses: their messages' counts and
-- status, then the events (last: see append_delivery_events). `events` as append_delivery_events
-- takes them, with "previousStatus". Returns {"statuses": {message id: status}, "seqs": {account
-- id: last number}}.
CREATE FUNCTION "finish_status_changes"(events JSON, at TIMESTAMPTZ) RETURNS JSON LANGUAGE plpgsql AS $$
DECLARE
  statuses JSON;
BEGIN
  statuses := "apply_message_changes"(
    (SELECT json_agg(json_build_object('messageId', e."messageId", 'from', e."previousStatus", 'to', e.status))
     FROM json_to_recordset(events) AS e("messageId" UUID, "previousStatus" TEXT, status TEXT)),
    at);
  RETURN json_build_object('statuses', statuses, 'seqs', "append_delivery_events"(events, statuses, at));
END $$;

-- Changes to the jobs a worker holds, and the jobs they give rise to. `changes`: {"id", "take":
-- deliveries leaving the job, "release": true to hand the job back (with "runAt", "attempt",
-- "unconfirmedSince") or false to keep holding it}. A job left without deliveries is deleted.
-- `created`: {"id", "from", "kind", "deliveryIds", "runAt", "attempt", "unconfirmedSince",
-- "leased"}, each made only if the jobs it comes from ("from") were still this worker's: one whose lease
-- lapsed belongs to whoever took it over, with everything it leads to. A job held is due when
-- its lease ends (run_at is its lease's end), so claims walking the due jobs never pass it.
CREATE FUNCTION "apply_job_changes"(worker TEXT, changes JSON, created JSON, lease_ms INT) RETURNS VOID LANGUAGE plpgsql AS $$
DECLARE
  held UUID[];
BEGIN
  WITH c AS (
    SELECT * FROM json_to_recordset(changes) AS c(id UUID, take UUID[], release BOOLEAN, "runAt" TIMESTAMPTZ, attempt INT,
      "unconfirmedSince" TIMESTAMPTZ)
  ), updated AS (
    UPDATE "dispatch_jobs" j SET
      "delivery_ids" = CASE WHEN c.take IS NULL OR cardinality(c.take) = 0 THEN j."delivery_ids"
        ELSE ARRAY(SELECT x FROM unnest(j."delivery_ids") WITH ORDINALITY AS u(x, n) WHERE x <> ALL(c.take) ORDER BY n) END,
      "run_at" = CASE WHEN c.release THEN coalesce(c."runAt", j."run_at") ELSE j."run_at" END,
      "attempt" = CASE WHEN c.release THEN coalesce(c.attempt, j."attempt") ELSE j."attempt" END,
      "unconfirmed_since" = CASE WHEN c.release THEN c."unconfirmedSince" ELSE j."unconfirmed_since" END,
      "locked_by" = CASE WHEN c.release THEN NULL ELSE j."locked_by" END,
      "locked_until" = CASE WHEN c.release THEN NULL ELSE j."locked_until" END
    FROM c WHERE j."id" = c.id AND j."locked_by" = worker
    RETURNING j."id"
  )
  SELECT array_agg("id") INTO held FROM updated;
  IF held IS NULL THEN RETURN; END IF;
  DELETE FROM "dispatch_jobs" WHERE "id" = ANY(held) AND cardinality("delivery_ids") = 0;
  INSERT INTO "dispatch_jobs" ("id", "kind", "delivery_ids", "run_at", "attempt", "unconfirmed_since", "locked_by", "locked_until")
  SELECT n.id, n.kind::"DispatchJobKind", n."deliveryIds",
    CASE WHEN n.leased THEN now() + lease_ms * interval '1 millisecond' ELSE n."runAt" END, n.attempt, n."unconfirmedSince",
    CASE WHEN n.leased THEN worker END, CASE WHEN n.leased THEN now() + lease_ms * interval '1 millisecond' END
  FROM json_to_recordset(created) AS n(id UUID, "from" UUID[], kind TEXT, "deliveryIds" UUID[], "runAt" TIMESTAMPTZ, attempt INT,
    "unconfirmedSince" TIMESTAMPTZ, leased BOOLEAN)
  WHERE n."from" <@ held AND cardinality(n."deliveryIds") > 0;
END $$;

-- What a dispatcher decided about deliveries as it last read them (its claim), in one round
-- trip: each delivery is written only if it is still in the status the dispatcher knew, else
-- nothing is and the error 'SG001' says so (the caller then records the changes the general
-- way, reading and locking the deliveries first). `states`: each delivery's new state with
-- "expected", sorted by id (the order they are locked in); `events` in order, as
-- finish_status_changes takes them; `attempts`: {"deliveryId", "provider", "outcome",
-- "errorCode", "errorMessage"}. Returns what finish_status_changes returns.
CREATE FUNCTION "record_known_changes"(worker TEXT, states JSON, events JSON, attempts JSON, job_changes JSON, new_jobs JSON,
  lease_ms INT, at TIMESTAMPTZ) RETURNS JSON LANGUAGE plpgsql AS $$
DECLARE
  moved INT;
BEGIN
  -- Each statement touches a batch of rows found by key: probe the key for each, whatever size
  -- the planner believes the tables to be (without statistics it takes them for small ones).
  PERFORM set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
    set_config('enable_mergejoin', 'off', true);
  SELECT count(*) INTO moved
  FROM json_to_recordset(states) AS v(id UUID, expected TEXT)
  LEFT JOIN LATERAL (SELECT d."status" FROM "deliveries" d WHERE d."id" = v.id FOR UPDATE) d ON true
  WHERE d."status" IS DISTINCT FROM v.expected::"DeliveryStatus";
  IF moved > 0 THEN
    RAISE EXCEPTION 'deliveries moved on since they were read' USING ERRCODE = 'SG001';
  END IF;
  UPDATE "deliveries" d SET "status" = v.status::"DeliveryStatus", "provider" = v.provider, "provider_message_id" = v."providerMessageId",
    "error_code" = v."errorCode", "error_message" = v."errorMessage", "sent_at" = v."sentAt", "delivered_at" = v."deliveredAt",
    "updated_at" = at
  FROM json_to_recordset(states) AS v(id UUID, status TEXT, provider TEXT, "providerMessageId" TEXT, "errorCode" TEXT,
    "errorMessage" TEXT, "sentAt" TIMESTAMPTZ, "deliveredAt" TIMESTAMPTZ)
  WHERE d."id" = v.id;
  IF json_array_length(attempts) > 0 THEN
    INSERT INTO "delivery_attempts" ("delivery_id", "delivery_created_at", "provider", "outcome", "error_code", "error_message", "at")
    SELECT a."deliveryId", d."created_at", a.provider, a.outcome, a."errorCode", a."errorMessage", at
    FROM json_to_recordset(attempts) AS a("deliveryId" UUID, provider TEXT, outcome TEXT, "errorCode" TEXT, "errorMessage" TEXT)
    JOIN "deliveries" d ON d."id" = a."deliveryId";
  END IF;
  PERFORM "apply_job_changes"(worker, job_changes, new_jobs, lease_ms);
  IF json_array_length(events) = 0 THEN RETURN json_build_object('statuses', '{}'::json, 'seqs', '{}'::json); END IF;
  RETURN "finish_status_changes"(events, at);
END $$;

-- Accepts a batch of sendSms requests in one round trip, each with its own outcome, in the
-- order given (src/messages/accept.ts decides everything that needs no database):
--   opted_out  (only when check_opt_outs) some recipients are on their account's list: nothing
--              is written for anyone; `detail` lists them, and the caller asks again without them
--   replay     the reference was used before for the same request: `message_id` is that message
--   duplicate  the reference was used before for another request
--   short      the balance does not cover the cost (after the requests before it in the batch)
--   accepted   written: the message, its deliveries, their first events (numbered from
--              `first_seq`, in the order given), the debit and its ledger entry, and the jobs
--              named by the deliveries (`jobs`: {"id", "runAt", "leasedBy", "leaseMs"})
-- The accounts are locked in id order first: that also holds back any other request with the
-- same reference until this one commits.
CREATE FUNCTION "accept_messages"(requests JSON, deliveries JSON, jobs JSON, check_opt_outs BOOLEAN, at TIMESTAMPTZ)
RETURNS TABLE (ord INT, outcome TEXT, message_id UUID, first_seq BIGINT, detail JSON) LANGUAGE plpgsql AS $$
DECLARE
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
  IF check_opt_outs THEN
    -- Only accounts that have a list are looked up, each number on the list's primary key.
    WITH q AS (
      SELECT * FROM json_to_recordset(requests) AS q(ord INT, "accountId" UUID)
    ), listed AS (
      SELECT DISTINCT q."accountId" FROM q WHERE EXISTS (SELECT 1 FROM "opt_outs" o WHERE o."account_id" = q."accountId")
    ), hits AS (
      SELECT d.ord, d.recipient
      FROM json_to_recordset(deliveries) AS d(ord INT, recipient TEXT)
      JOIN q ON q.ord = d.ord JOIN listed l ON l."accountId" = q."accountId"
      WHERE EXISTS (SELECT 1 FROM "opt_outs" o WHERE o."account_id" = q."accountId" AND o."recipient" = d.recipient)
    )
    SELECT json_object_agg(h.ord, h.recipients) INTO opted
    FROM (SELECT hits.ord, json_agg(hits.recipient) AS recipients FROM hits GROUP BY hits.ord) h;
    IF opted IS NOT NULL THEN
      RETURN QUERY SELECT e.key::int, 'opted_out'::text, NULL::uuid, NULL::bigint, e.value FROM json_each(opted) e;
      RETURN;
    END IF;
  END IF;

  SELECT jsonb_object_agg(a.id, a.balance) INTO balances FROM (
    SELECT x."id", x."balance" FROM "accounts" x
    WHERE x."id" IN (SELECT q."accountId" FROM json_to_recordset(requests) AS q("accountId" UUID))
    ORDER BY x."id" FOR UPDATE
  ) a;

  FOR r IN
    SELECT q.ord, q."accountId" AS account_id, q."requestHash" AS request_hash, q.cost,
      m."id" AS taken_id, m."request_hash" AS taken_hash, m."rejected_recipients" AS taken_rejected
    FROM json_to_recordset(requests) AS q(ord INT, "accountId" UUID, reference TEXT, "requestHash" TEXT, cost NUMERIC)
    LEFT JOIN "messages" m ON m."account_id" = q."accountId" AND m."reference" = q.reference
    ORDER BY q.ord
  LOOP
    IF r.taken_id IS NOT NULL THEN
      IF r.taken_hash = r.request_hash THEN
        RETURN QUERY SELECT r.ord, 'replay'::text, r.taken_id, NULL::bigint, r.taken_rejected::json;
      ELSE
        RETURN QUERY SELECT r.ord, 'duplicate'::text, NULL::uuid, NULL::bigint, NULL::json;
      END IF;
      CONTINUE;
    END IF;
    balance := coalesce((balances ->> r.account_id::text)::numeric, 0);
    IF r.cost > 0 AND balance < r.cost THEN
      RETURN QUERY SELECT r.ord, 'short'::text, NULL::uuid, NULL::bigint, NULL::json;
      CONTINUE;
    END IF;
    balances := jsonb_set(balances, ARRAY[r.account_id::text], to_jsonb(balance - r.cost));
    accepted := accepted || r.ord;
  END LOOP;
  IF cardinality(accepted) = 0 THEN RETURN; END IF;

  WITH q AS (
    SELECT * FROM json_to_recordset(requests) AS q(ord INT, id UUID, "accountId" UUID, text TEXT, "senderId" TEXT, reference TEXT,
      "requestHash" TEXT, status TEXT, encoding TEXT, segments INT, "recipientCount" INT, cost NUMERIC, currency TEXT,
      "requestedProvider" TEXT, rejected JSONB, "scheduledAt" TIMESTAMPTZ)
    WHERE q.ord = ANY(accepted)
  ), d AS (
    SELECT d.*, q.id AS message_id, q."accountId" AS account_id, q."senderId" AS sender_id, q.status AS status
    FROM json_to_recordset(deliveries) AS d(id UUID, ord INT, idx INT, recipient TEXT, country TEXT, body TEXT, variables JSONB,
      segments INT, price NUMERIC, route TEXT[], job UUID)
    JOIN q ON q.ord = d.ord
  ), messages_in AS (
    INSERT INTO "messages" ("id", "account_id", "text", "sender_id", "reference", "request_hash", "status", "encoding", "segments",
      "recipient_count", "cost", "currency", "requested_provider", "rejected_recipients", "scheduled_at", "scheduled_count",
      "queued_count", "created_at", "updated_at")
    SELECT q.id, q."accountId", q.text, q."senderId", q.reference, q."requestHash", q.status::"MessageStatus", q.encoding::"SmsEncoding",
      q.segments, q."recipientCount", q.cost, q.currency, q."requestedProvider", q.rejected, q."scheduledAt",
      CASE WHEN q.status = 'SCHEDULED' THEN q."recipientCount" ELSE 0 END,
      CASE WHEN q.status = 'SCHEDULED' THEN 0 ELSE q."recipientCount" END, at, at
    FROM q
  ), deliveries_in AS (
    INSERT INTO "deliveries" ("id", "message_id", "account_id", "recipient", "sender_id", "country", "body", "variables", "segments",
      "price", "status", "route", "created_at", "updated_at")
    SELECT d.id, d.message_id, d.account_id, d.recipient, d.sender_id, d.country, d.body, d.variables, d.segments, d.price,
      d.status::"DeliveryStatus", d.route, at, at
    FROM d
  ), jobs_in AS (
    INSERT INTO "dispatch_jobs" ("id", "kind", "delivery_ids", "run_at", "attempt", "locked_by", "locked_until", "created_at")
    SELECT j.id, 'SUBMIT', g.ids,
      CASE WHEN j."leasedBy" IS NULL THEN j."runAt" ELSE now() + j."leaseMs" * interval '1 millisecond' END,
      CASE WHEN j."leasedBy" IS NULL THEN 0 ELSE 1 END, j."leasedBy",
      CASE WHEN j."leasedBy" IS NULL THEN NULL ELSE now() + j."leaseMs" * interval '1 millisecond' END, at
    FROM json_to_recordset(jobs) AS j(id UUID, "runAt" TIMESTAMPTZ, "leasedBy" TEXT, "leaseMs" INT)
    JOIN (SELECT d.job, array_agg(d.id ORDER BY d.ord, d.idx) AS ids FROM d GROUP BY d.job) g ON g.job = j.id
  ), debits AS (
    SELECT q."accountId" AS account_id, sum(q.cost) AS total FROM q WHERE q.cost > 0 GROUP BY q."accountId"
  ), debited AS (
    -- The CHECK constraint on accounts.balance backs the decisions above.
    UPDATE "accounts" a SET "balance" = a."balance" - debits.total, "updated_at" = at
    FROM debits WHERE a."id" = debits.account_id
    RETURNING a."id", a."balance"
  ), ledger_in AS (
    INSERT INTO "ledger_entries" ("account_id", "kind", "amount", "balance_after", "message_id", "note")
    SELECT q."accountId", 'DEBIT', -q.cost,
      debited."balance" + COALESCE(sum(q.cost) OVER (PARTITION BY q."accountId" ORDER BY q.ord
        ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), 0),
      q.id, 'sendSms'
    FROM q JOIN debited ON debited."id" = q."accountId"
    WHERE q.cost > 0
  ), seqs AS (
    SELECT "append_delivery_events"(
      (SELECT json_agg(json_build_object('accountId', d.account_id, 'messageId', d.message_id, 'deliveryId', d.id, 'status', d.status,
         'messageStatus', d.status) ORDER BY d.ord, d.idx) FROM d),
      '{}'::json, at) AS blocks
  ), counted AS (
    SELECT d.ord, d.account_id, count(*) AS n FROM d GROUP BY d.ord, d.account_id
  )
  SELECT json_object_agg(x.ord, x.first::text) INTO firsts FROM (
    SELECT c.ord, (s.blocks ->> c.account_id::text)::bigint
      - sum(c.n) OVER (PARTITION BY c.account_id ORDER BY c.ord ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) + 1 AS first
    FROM counted c CROSS JOIN seqs s
  ) x;

  RETURN QUERY SELECT a.ord, 'accepted'::text, (q.value ->> 'id')::uuid, (firsts ->> a.ord::text)::bigint, NULL::json
  FROM unnest(accepted) AS a(ord)
  JOIN json_array_elements(requests) AS q(value) ON (q.value ->> 'ord')::int = a.ord;
END $$;
