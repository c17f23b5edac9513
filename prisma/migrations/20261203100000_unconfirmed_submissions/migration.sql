-- When a submission's answer was lost (a timeout, a 5xx, an unreadable body): the provider may
-- have taken it, so before any resend the dispatcher asks the provider what it has since then.
ALTER TABLE "dispatch_jobs" ADD COLUMN "unconfirmed_since" TIMESTAMPTZ(3);
