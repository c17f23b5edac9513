-- Numbers an account must not send to: sendSms and smsQuote reject them with OPTED_OUT.
CREATE TABLE "opt_outs" (
    "account_id" UUID NOT NULL,
    -- E.164, as sendSms reads numbers.
    "recipient" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "opt_outs_pkey" PRIMARY KEY ("account_id", "recipient"),
    CONSTRAINT "opt_outs_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts"("id")
);
