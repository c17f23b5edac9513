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
    -- Set on the work of a paced provider (NextSMS: a request every 2 s), which waits in a queue of
    -- its own: the dispatcher that has the provider's turn claims all of it at once and sends it in
    -- one submission (src/dispatch/dispatcher.ts, runPaced). Null for every other provider.
    "paced_provider" TEXT,
    CONSTRAINT "dispatch_jobs_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "dispatch_jobs_run_at_idx" ON "dispatch_jobs" ("run_at");
CREATE INDEX "dispatch_jobs_paced_idx" ON "dispatch_jobs" ("paced_provider", "run_at") WHERE "paced_provider" IS NOT NULL;

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

-- The functions below take their batches as JSON, read once into arrays of these types (JSON is
-- slow to read: a thousand objects cost milliseconds each time a statement reads them again),
-- and are PL/pgSQL, not SQL, so that their statements' plans are kept for the session.

-- A delivery's status change as it is recorded: its new state, the status it leaves ("from",
-- null for a new delivery) and its message's status when the caller knows it.
CREATE TYPE "status_change" AS (
    "deliveryId" UUID, "accountId" UUID, "messageId" UUID, "status" TEXT, "from" TEXT, "messageStatus" TEXT,
    "provider" TEXT, "providerMessageId" TEXT, "errorCode" TEXT, "errorMessage" TEXT,
    "sentAt" TIMESTAMPTZ, "deliveredAt" TIMESTAMPTZ, "raw" JSONB
);

CREATE FUNCTION "status_changes"(changes JSON) RETURNS "status_change"[] LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(array_agg(c), '{}') FROM json_populate_recordset(NULL::"status_change", changes) c
$$;

-- Moves the messages' per-status counts by the changes and sets their status from them. The
-- messages are locked in id order first, as every writer of them does. Returns {"<message id>":
-- "<status>"}.
CREATE FUNCTION "apply_message_changes"(changes "status_change"[], at TIMESTAMPTZ) RETURNS JSON LANGUAGE plpgsql AS $$
DECLARE
  ids UUID[];
  statuses JSON;
BEGIN
  SELECT array_agg(DISTINCT c."messageId" ORDER BY c."messageId") INTO ids FROM unnest(changes) c;
  IF ids IS NULL THEN RETURN '{}'::json; END IF;
  PERFORM 1 FROM "messages" WHERE "id" = ANY(ids) ORDER BY "id" FOR UPDATE;
  WITH c AS (
    SELECT "messageId" AS message_id,
      CASE WHEN "from" IN ('FAILED', 'EXPIRED', 'REJECTED') THEN 'FAILED' ELSE "from" END AS f,
      CASE WHEN "status" IN ('FAILED', 'EXPIRED', 'REJECTED') THEN 'FAILED' ELSE "status" END AS t
    FROM unnest(changes)
  ), d AS (
    SELECT message_id,
      (count(*) FILTER (WHERE t = 'SCHEDULED') - count(*) FILTER (WHERE f = 'SCHEDULED'))::int AS scheduled,
      (count(*) FILTER (WHERE t = 'QUEUED') - count(*) FILTER (WHERE f = 'QUEUED'))::int AS queued,
      (count(*) FILTER (WHERE t = 'SENT') - count(*) FILTER (WHERE f = 'SENT'))::int AS sent,
      (count(*) FILTER (WHERE t = 'DELIVERED') - count(*) FILTER (WHERE f = 'DELIVERED'))::int AS delivered,
      (count(*) FILTER (WHERE t = 'FAILED') - count(*) FILTER (WHERE f = 'FAILED'))::int AS failed,
      (count(*) FILTER (WHERE t = 'CANCELED') - count(*) FILTER (WHERE f = 'CANCELED'))::int AS canceled
    FROM c GROUP BY message_id
  ), updated AS (
    UPDATE "messages" m SET
      "scheduled_count" = m."scheduled_count" + d.scheduled, "queued_count" = m."queued_count" + d.queued,
      "sent_count" = m."sent_count" + d.sent, "delivered_count" = m."delivered_count" + d.delivered,
      "failed_count" = m."failed_count" + d.failed, "canceled_count" = m."canceled_count" + d.canceled,
      "status" = "message_status"(m."recipient_count", m."scheduled_count" + d.scheduled, m."queued_count" + d.queued,
        m."sent_count" + d.sent, m."delivered_count" + d.delivered, m."failed_count" + d.failed, m."canceled_count" + d.canceled),
      "updated_at" = at
    FROM d WHERE m."id" = d.message_id
    RETURNING m."id", m."status"
  )
  SELECT json_object_agg("id", "status") INTO statuses FROM updated;
  RETURN coalesce(statuses, '{}'::json);
END $$;

-- Numbers and inserts events (the changes, in order), one block of numbers per account, and
-- moves the account's per-status counts by what they change. The block locks the account's
-- counter row until commit, which is what orders one account's events (a reader that has seen
-- number n has seen everything before it): call it last in a transaction. Each event is also
-- queued for every enabled webhook endpoint of its account. A change without "messageStatus"
-- takes its message's from `statuses` ({"<message id>": "<status>"}). Returns
-- {"<account id>": "<last number of its block>"}; an account's numbers are its block's last,
-- counted back by how many events it had, in the order given.
CREATE FUNCTION "append_delivery_events"(events "status_change"[], statuses JSON, at TIMESTAMPTZ) RETURNS JSON LANGUAGE plpgsql AS $$
DECLARE
  last_seqs JSON;
BEGIN
  WITH input AS (
    SELECT e.*, coalesce(e."messageStatus", statuses ->> e."messageId"::text) AS message_status,
      row_number() OVER (PARTITION BY e."accountId" ORDER BY e.ord) AS rank
    FROM unnest(events) WITH ORDINALITY AS e("deliveryId", "accountId", "messageId", "status", "from", "messageStatus",
      "provider", "providerMessageId", "errorCode", "errorMessage", "sentAt", "deliveredAt", "raw", ord)
  ), counts AS (
    SELECT "accountId" AS account_id, count(*) AS n,
      count(*) FILTER (WHERE "status" = 'SCHEDULED') - count(*) FILTER (WHERE "from" = 'SCHEDULED') AS scheduled,
      count(*) FILTER (WHERE "status" = 'QUEUED') - count(*) FILTER (WHERE "from" = 'QUEUED') AS queued,
      count(*) FILTER (WHERE "status" = 'SENT') - count(*) FILTER (WHERE "from" = 'SENT') AS sent,
      count(*) FILTER (WHERE "status" = 'DELIVERED') - count(*) FILTER (WHERE "from" = 'DELIVERED') AS delivered,
      count(*) FILTER (WHERE "status" = 'FAILED') - count(*) FILTER (WHERE "from" = 'FAILED') AS failed,
      count(*) FILTER (WHERE "status" = 'EXPIRED') - count(*) FILTER (WHERE "from" = 'EXPIRED') AS expired,
      count(*) FILTER (WHERE "status" = 'REJECTED') - count(*) FILTER (WHERE "from" = 'REJECTED') AS rejected,
      count(*) FILTER (WHERE "status" = 'CANCELED') - count(*) FILTER (WHERE "from" = 'CANCELED') AS canceled
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
    SELECT n."accountId", n.seq, n."messageId", n."deliveryId", n."status"::"DeliveryStatus", n.message_status::"MessageStatus", n."provider",
      n."providerMessageId", n."errorCode", n."errorMessage", n."sentAt", n."deliveredAt", n."raw", at
    FROM numbered n
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
-- status, then the events (last: see append_delivery_events). Returns {"statuses": {message id:
-- status}, "seqs": {account id: last number}}.
CREATE FUNCTION "finish_status_changes"(events "status_change"[], at TIMESTAMPTZ) RETURNS JSON LANGUAGE plpgsql AS $$
DECLARE
  statuses JSON;
BEGIN
  statuses := "apply_message_changes"(events, at);
  RETURN json_build_object('statuses', statuses, 'seqs', "append_delivery_events"(events, statuses, at));
END $$;

-- Changes to the jobs a worker holds, and the jobs they give rise to. `changes`: {"id", "take":
-- deliveries leaving the job, "release": true to hand the job back (with "runAt", "attempt",
-- "unconfirmedSince") or false to keep holding it}. A job left without deliveries is deleted.
-- `created`: {"id", "parts": [{"from": job, "ids": deliveries}], "kind", "runAt", "attempt",
-- "unconfirmedSince", "leased", "pacedProvider"}, made of the deliveries of the jobs that were still this
-- worker's: one whose lease lapsed belongs to whoever took it over, with everything it leads to.
-- A job held is due when its lease ends (run_at is its lease's end), so claims walking the due
-- jobs never pass it. Returns the jobs made.
CREATE FUNCTION "apply_job_changes"(worker TEXT, changes JSON, created JSON, lease_ms INT) RETURNS UUID[] LANGUAGE plpgsql AS $$
DECLARE
  held UUID[];
  made UUID[];
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
  IF held IS NULL THEN RETURN '{}'; END IF;
  DELETE FROM "dispatch_jobs" WHERE "id" = ANY(held) AND cardinality("delivery_ids") = 0;
  WITH n AS (
    SELECT n.*, ARRAY(
        SELECT x FROM json_array_elements(n.parts) AS p(part) CROSS JOIN LATERAL json_array_elements_text(p.part -> 'ids') AS x
        WHERE (p.part ->> 'from')::uuid = ANY(held)
      )::uuid[] AS ids
    FROM json_to_recordset(created) AS n(id UUID, parts JSON, kind TEXT, "runAt" TIMESTAMPTZ, attempt INT,
      "unconfirmedSince" TIMESTAMPTZ, leased BOOLEAN, "pacedProvider" TEXT)
  ), made_jobs AS (
    INSERT INTO "dispatch_jobs" ("id", "kind", "delivery_ids", "run_at", "attempt", "unconfirmed_since", "locked_by", "locked_until",
      "paced_provider")
    SELECT n.id, n.kind::"DispatchJobKind", n.ids,
      CASE WHEN n.leased THEN now() + lease_ms * interval '1 millisecond' ELSE n."runAt" END, n.attempt, n."unconfirmedSince",
      CASE WHEN n.leased THEN worker END, CASE WHEN n.leased THEN now() + lease_ms * interval '1 millisecond' END, n."pacedProvider"
    FROM n WHERE cardinality(n.ids) > 0
    RETURNING "id"
  )
  SELECT coalesce(array_agg("id"), '{}') INTO made FROM made_jobs;
  RETURN made;
END $$;

-- What a dispatcher decided about deliveries as it last read them (its claim), in one round
-- trip: each delivery is written only if it is still in the status the dispatcher knew ("from"),
-- else nothing is and the error 'SG001' says so (the caller then records the changes the
-- general way, reading and locking the deliveries first). `changes`: one per delivery, its new
-- state, sorted by delivery id (the order they are locked in); `events`: the events in order when
-- they are not exactly `changes` (a delivery that moves twice), else null; `attempts`:
-- {"deliveryId", "provider", "outcome", "errorCode", "errorMessage"}. Returns what
-- finish_status_changes returns, with "made": the jobs apply_job_changes made.
CREATE FUNCTION "record_known_changes"(worker TEXT, changes JSON, events JSON, attempts JSON, job_changes JSON, new_jobs JSON,
  lease_ms INT, at TIMESTAMPTZ) RETURNS JSON LANGUAGE plpgsql AS $$
DECLARE
  states "status_change"[];
  moved INT;
  made UUID[];
  finished JSON;
BEGIN
  -- Each statement touches a batch of rows found by key: probe the key for each, whatever size
  -- the planner believes the tables to be (without statistics it takes them for small ones).
  PERFORM set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
    set_config('enable_mergejoin', 'off', true);
  states := "status_changes"(changes);
  SELECT count(*) INTO moved
  FROM unnest(states) AS v
  LEFT JOIN LATERAL (SELECT d."status" FROM "deliveries" d WHERE d."id" = v."deliveryId" FOR UPDATE) d ON true
  WHERE d."status" IS DISTINCT FROM v."from"::"DeliveryStatus";
  IF moved > 0 THEN
    RAISE EXCEPTION 'deliveries moved on since they were read' USING ERRCODE = 'SG001';
  END IF;
  UPDATE "deliveries" d SET "status" = v."status"::"DeliveryStatus", "provider" = v."provider",
    "provider_message_id" = v."providerMessageId", "error_code" = v."errorCode", "error_message" = v."errorMessage",
    "sent_at" = v."sentAt", "delivered_at" = v."deliveredAt", "updated_at" = at
  FROM unnest(states) AS v
  WHERE d."id" = v."deliveryId";
  IF json_array_length(attempts) > 0 THEN
    INSERT INTO "delivery_attempts" ("delivery_id", "delivery_created_at", "provider", "outcome", "error_code", "error_message", "at")
    SELECT a."deliveryId", d."created_at", a.provider, a.outcome, a."errorCode", a."errorMessage", at
    FROM json_to_recordset(attempts) AS a("deliveryId" UUID, provider TEXT, outcome TEXT, "errorCode" TEXT, "errorMessage" TEXT)
    JOIN "deliveries" d ON d."id" = a."deliveryId";
  END IF;
  made := "apply_job_changes"(worker, job_changes, new_jobs, lease_ms);
  IF events IS NOT NULL THEN states := "status_changes"(events); END IF;
  IF cardinality(states) = 0 THEN
    finished := json_build_object('statuses', '{}'::json, 'seqs', '{}'::json);
  ELSE
    finished := "finish_status_changes"(states, at);
  END IF;
  RETURN json_build_object('statuses', finished -> 'statuses', 'seqs', finished -> 'seqs', 'made', to_json(made));
END $$;

-- One request of a batch of sendSms, and one of its deliveries, as accept_messages takes them.
CREATE TYPE "accept_request" AS (
    "ord" INT, "id" UUID, "accountId" UUID, "text" TEXT, "senderId" TEXT, "reference" TEXT, "requestHash" TEXT,
    "status" TEXT, "encoding" TEXT, "segments" INT, "recipientCount" INT, "cost" NUMERIC, "currency" TEXT,
    "requestedProvider" TEXT, "rejected" JSONB, "scheduledAt" TIMESTAMPTZ
);
CREATE TYPE "accept_delivery" AS (
    "id" UUID, "ord" INT, "idx" INT, "recipient" TEXT, "country" TEXT, "body" TEXT, "variables" JSONB,
    "segments" INT, "price" NUMERIC, "route" TEXT[], "job" UUID
);

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
      "price", "status", "route", "created_at", "updated_at")
    SELECT d."id", d.message_id, d.account_id, d."recipient", d.sender_id, d."country", d."body", d."variables", d."segments", d."price",
      d.delivery_status::"DeliveryStatus", d."route", at, at
    FROM d
  ), jobs_in AS (
    INSERT INTO "dispatch_jobs" ("id", "kind", "delivery_ids", "run_at", "attempt", "locked_by", "locked_until", "created_at")
    SELECT j.id, 'SUBMIT', g.ids,
      CASE WHEN j."leasedBy" IS NULL THEN j."runAt" ELSE now() + j."leaseMs" * interval '1 millisecond' END,
      CASE WHEN j."leasedBy" IS NULL THEN 0 ELSE 1 END, j."leasedBy",
      CASE WHEN j."leasedBy" IS NULL THEN NULL ELSE now() + j."leaseMs" * interval '1 millisecond' END, at
    FROM json_to_recordset(jobs) AS j(id UUID, "runAt" TIMESTAMPTZ, "leasedBy" TEXT, "leaseMs" INT)
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
