-- A retried submission is claimed whole: its siblings are found by their reference, which only
-- jobs of providers that recognise retries carry.
CREATE INDEX "dispatch_jobs_submission_ref_idx" ON "dispatch_jobs" ("submission_ref") WHERE "submission_ref" IS NOT NULL;
