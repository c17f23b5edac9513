-- Callbacks find deliveries by the provider's id, which a delivery has once a provider took it:
-- a delivery waiting to be sent needs no entry (one index entry less per recipient accepted).
DROP INDEX "deliveries_provider_provider_message_id_idx";
CREATE INDEX "deliveries_provider_provider_message_id_idx" ON "deliveries" ("provider", "provider_message_id") WHERE "provider_message_id" IS NOT NULL;
