-- The reference a delivery's submission carries to its provider, fixed before the first try so
-- that every retry (also after a crash) carries the same one.
ALTER TABLE "dispatch_jobs" ADD COLUMN "submission_ref" TEXT;
