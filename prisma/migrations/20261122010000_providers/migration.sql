-- AlterTable
ALTER TABLE "deliveries" ADD COLUMN     "variables" JSONB;

-- CreateTable
CREATE TABLE "provider_states" (
    "name" TEXT NOT NULL,
    "last_error" TEXT,
    "last_error_at" TIMESTAMPTZ(3),
    "last_success_at" TIMESTAMPTZ(3),

    CONSTRAINT "provider_states_pkey" PRIMARY KEY ("name")
);

-- CreateTable
CREATE TABLE "early_reports" (
    "id" BIGSERIAL NOT NULL,
    "provider" TEXT NOT NULL,
    "provider_message_id" TEXT,
    "delivery_id" UUID,
    "recipient" TEXT,
    "report" JSONB NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "early_reports_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "early_reports_provider_provider_message_id_idx" ON "early_reports"("provider", "provider_message_id");

-- CreateIndex
CREATE INDEX "early_reports_provider_delivery_id_idx" ON "early_reports"("provider", "delivery_id");

