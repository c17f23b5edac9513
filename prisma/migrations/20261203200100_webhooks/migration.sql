-- Delivery webhooks (Standard Webhooks). See src/webhooks/.
CREATE TABLE "webhook_endpoints" (
    "id" UUID NOT NULL,
    "account_id" UUID NOT NULL,
    "url" TEXT NOT NULL,
    -- The signing secret, AES-256-GCM encrypted (src/webhooks/secrets.ts); never stored in clear.
    "secret_ciphertext" TEXT NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "disabled_reason" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "webhook_endpoints_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "webhook_endpoints_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts"("id")
);
-- The event log's append probes this once per account and batch: accounts without an enabled
-- endpoint find nothing here and write nothing more.
CREATE INDEX "webhook_endpoints_account_id_idx" ON "webhook_endpoints" ("account_id") WHERE "enabled";

-- The outbox: one row per (event, enabled endpoint), written by the statement that appends the
-- event, so the intent to notify commits with the event or not at all. The event is named by
-- (account_id, seq), without a foreign key (the event log may be partitioned and pruned by
-- time); the request body is built from the log when it is sent. Its time is kept, so that
-- reading it back looks in its own partition of the log only.
CREATE TABLE "webhook_outbox" (
    "id" BIGSERIAL NOT NULL,
    "endpoint_id" UUID NOT NULL,
    "account_id" UUID NOT NULL,
    "seq" BIGINT NOT NULL,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "run_at" TIMESTAMPTZ(3) NOT NULL,
    "locked_by" TEXT,
    "locked_until" TIMESTAMPTZ(3),
    CONSTRAINT "webhook_outbox_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "webhook_outbox_run_at_idx" ON "webhook_outbox" ("run_at");
CREATE INDEX "webhook_outbox_endpoint_id_idx" ON "webhook_outbox" ("endpoint_id");

-- Every request made to an endpoint, as the account sees it (WebhookEndpoint.deliveries).
CREATE TABLE "webhook_attempts" (
    "id" BIGSERIAL NOT NULL,
    "endpoint_id" UUID NOT NULL,
    "account_id" UUID NOT NULL,
    "seq" BIGINT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "outcome" TEXT NOT NULL,
    "status_code" INTEGER,
    "duration_ms" INTEGER NOT NULL,
    "error" TEXT,
    "response_excerpt" TEXT,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "webhook_attempts_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "webhook_attempts_endpoint_id_id_idx" ON "webhook_attempts" ("endpoint_id", "id" DESC);
-- Attempts are kept as long as the events they sent (EVENT_RETENTION_DAYS), then removed by age.
CREATE INDEX "webhook_attempts_at_idx" ON "webhook_attempts" ("at");
