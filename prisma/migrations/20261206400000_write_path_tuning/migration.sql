-- A message row changes with its deliveries (counts, status, updated_at), none of which is
-- indexed: with room left in its page each change is a HOT update, which writes no index entry.
-- Pages filled to the brim (the default, 100) made a little over half of these updates write an
-- entry in each of the table's three indexes. Applies to pages written from now on.
ALTER TABLE "messages" SET (fillfactor = 75);

-- The statements inside the write path's functions find their rows by key whatever the batch
-- (see record_known_changes), so one plan serves every call. Left to choose, PostgreSQL planned
-- several of them again on every call, seeing each batch's arrays as constants: at one client,
-- planning took a third as long as executing (pg_stat_statements with track_planning).
ALTER FUNCTION "accept_messages"(JSON, JSON, JSON, BOOLEAN, TIMESTAMPTZ) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION "record_known_changes"(TEXT, JSON, JSON, JSON, JSON, JSON, INT, TIMESTAMPTZ) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION "apply_job_changes"(TEXT, JSON, JSON, INT) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION "finish_status_changes"("status_change"[], TIMESTAMPTZ) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION "apply_message_changes"("status_change"[], TIMESTAMPTZ) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION "append_delivery_events"("status_change"[], JSON, TIMESTAMPTZ) SET plan_cache_mode = force_generic_plan;
