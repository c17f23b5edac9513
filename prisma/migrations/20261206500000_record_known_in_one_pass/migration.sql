-- record_known_changes checked that every delivery was still as its dispatcher read it with a
-- pass of its own (SELECT ... FOR UPDATE: a probe of the key and a row lock, with its WAL record,
-- for each delivery), then updated them with a second probe. The update now carries the check:
-- it changes a delivery only while it is still in the status read, and fewer rows changed than
-- were given means one moved on (a report came first, another worker took it after a lapsed
-- lease), which raises SG001 as before; the transaction then undoes what it changed, and the
-- caller records the changes the general way. The update locks the rows itself, in the order
-- given (sorted by id, as every writer of deliveries locks them).
CREATE OR REPLACE FUNCTION "record_known_changes"(worker TEXT, changes JSON, events JSON, attempts JSON, job_changes JSON, new_jobs JSON,
  lease_ms INT, at TIMESTAMPTZ) RETURNS JSON LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  states "status_change"[];
  updated INT;
  made UUID[];
  finished JSON;
BEGIN
  -- Each statement touches a batch of rows found by key: probe the key for each, whatever size
  -- the planner believes the tables to be (without statistics it takes them for small ones).
  PERFORM set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
    set_config('enable_mergejoin', 'off', true);
  states := "status_changes"(changes);
  UPDATE "deliveries" d SET "status" = v."status"::"DeliveryStatus", "provider" = v."provider",
    "provider_message_id" = v."providerMessageId", "error_code" = v."errorCode", "error_message" = v."errorMessage",
    "sent_at" = v."sentAt", "delivered_at" = v."deliveredAt", "updated_at" = at
  FROM unnest(states) AS v
  WHERE d."id" = v."deliveryId" AND d."status" = v."from"::"DeliveryStatus";
  GET DIAGNOSTICS updated = ROW_COUNT;
  IF updated <> cardinality(states) THEN
    RAISE EXCEPTION 'deliveries moved on since they were read' USING ERRCODE = 'SG001';
  END IF;
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
