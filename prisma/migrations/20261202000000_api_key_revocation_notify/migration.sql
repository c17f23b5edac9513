-- Gateways cache the caller of an API key. A revocation, whoever makes it (the CLI, SQL by
-- hand, another instance), is announced to every listening gateway when it commits.
CREATE FUNCTION "announce_api_key_revocation"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('sms_gateway_api_key_revoked', NEW.id::text);
  RETURN NULL;
END $$;

CREATE TRIGGER "api_keys_announce_revocation"
  AFTER UPDATE OF "revoked_at" ON "api_keys"
  FOR EACH ROW WHEN (NEW."revoked_at" IS NOT NULL AND OLD."revoked_at" IS NULL)
  EXECUTE FUNCTION "announce_api_key_revocation"();
