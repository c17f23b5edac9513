/** Most recipients one sendSms (or one message of a CSV send) may have. */
export const MAX_RECIPIENTS = 10_000;
