-- Accounts, keys and sub-accounts over GraphQL (issue 20).

-- Sub-accounts: one level only. A parent has no parent, and an account with children gets none
-- (createSubAccount checks first; the trigger below keeps SQL written by hand to it too).
ALTER TABLE "accounts" ADD COLUMN "parent_id" UUID;
ALTER TABLE "accounts" ADD COLUMN "suspended_at" TIMESTAMPTZ(3);
-- A sub-account's own price of one segment by destination ({"TZ": "30", "default": "45"}), in
-- its currency; null, or a destination it does not name: the gateway's PRICE_TABLE.
ALTER TABLE "accounts" ADD COLUMN "prices" JSONB;
ALTER TABLE "accounts" ADD CONSTRAINT "accounts_parent_id_fkey" FOREIGN KEY ("parent_id") REFERENCES "accounts"("id");
-- Ids are time-ordered (shared/ids.ts): a page of sub-accounts in creation order is one range.
CREATE INDEX "accounts_parent_id_id_idx" ON "accounts" ("parent_id", "id") WHERE "parent_id" IS NOT NULL;

CREATE FUNCTION "accounts_one_level_of_children"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.parent_id IS NOT NULL AND (
    NEW.parent_id = NEW.id
    OR EXISTS (SELECT 1 FROM accounts WHERE id = NEW.parent_id AND parent_id IS NOT NULL)
    OR EXISTS (SELECT 1 FROM accounts WHERE parent_id = NEW.id)
  ) THEN
    RAISE EXCEPTION 'sub-accounts are one level deep: % cannot be a child of %', NEW.id, NEW.parent_id;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER "accounts_one_level_of_children"
  BEFORE INSERT OR UPDATE OF "parent_id" ON "accounts"
  FOR EACH ROW EXECUTE FUNCTION "accounts_one_level_of_children"();

-- Gateways cache the callers of keys (see 20261202000000_api_key_revocation_notify): suspending
-- an account is announced when it commits, so that its keys stop on every instance at once.
CREATE FUNCTION "announce_account_suspension"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('sms_gateway_account_suspended', NEW.id::text);
  RETURN NULL;
END $$;

CREATE TRIGGER "accounts_announce_suspension"
  AFTER UPDATE OF "suspended_at" ON "accounts"
  FOR EACH ROW WHEN (NEW."suspended_at" IS NOT NULL AND OLD."suspended_at" IS NULL)
  EXECUTE FUNCTION "announce_account_suspension"();

-- Keys: a label, the browser origins they may be used from (null: any), an end.
ALTER TABLE "api_keys" ADD COLUMN "name" TEXT;
ALTER TABLE "api_keys" ADD COLUMN "allowed_origins" TEXT[];
ALTER TABLE "api_keys" ADD COLUMN "expires_at" TIMESTAMPTZ(3);

-- Transfers between a parent and its sub-account: one entry on each side, naming the other.
-- Not used in this migration: a new enum value cannot be used in the transaction that adds it.
ALTER TYPE "LedgerKind" ADD VALUE 'TRANSFER_IN';
ALTER TYPE "LedgerKind" ADD VALUE 'TRANSFER_OUT';
ALTER TABLE "ledger_entries" ADD COLUMN "counterpart_account_id" UUID;
-- A month's spend per account (subAccounts) reads one range of this.
CREATE INDEX "ledger_entries_account_id_created_at_idx" ON "ledger_entries" ("account_id", "created_at");
