-- Work for a paced provider (issue 19: NextSMS takes a request every 2 s) waits in a queue of its
-- own: the dispatcher that has the provider's turn claims all of it at once and sends it in one
-- submission, instead of every dispatcher claiming a share and sending a share per turn. Jobs of
-- other providers leave it null; a job whose provider is no longer paced is claimed like any other.
ALTER TABLE "dispatch_jobs" ADD COLUMN "paced_provider" TEXT;
CREATE INDEX "dispatch_jobs_paced_idx" ON "dispatch_jobs" ("paced_provider", "run_at") WHERE "paced_provider" IS NOT NULL;

-- accept_messages as in 20261206300000_adaptive_routing, with each job's "pacedProvider".
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

-- apply_job_changes as in 20261206100000_dispatch_groups, with each created job's "pacedProvider" (a failover
-- to a paced provider joins its queue).
CREATE OR REPLACE FUNCTION "apply_job_changes"(worker TEXT, changes JSON, created JSON, lease_ms INT) RETURNS UUID[] LANGUAGE plpgsql AS $$
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
