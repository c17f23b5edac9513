import { z } from 'zod';
import { coded, hasVisibleText, storableText } from '../shared/validation.ts';
import { MAX_RECIPIENTS } from './limits.ts';

const MAX_TEXT_LENGTH = 5_000;
/** Alphanumeric sender ids: up to 11 characters with at least one letter; numeric ones up to 15 digits. */
const SENDER_ID = /^(?=.*[A-Za-z])[A-Za-z0-9 .\-_&]{1,11}$|^\+?\d{3,15}$/;

const recipientText = storableText.max(64, 'a recipient is at most 64 characters');
const variables = z.record(z.string(), z.union([storableText, z.number(), z.boolean(), z.null()]), {
  error: 'variables must be an object of text, number or boolean values',
});

/** What a send request may hold, whichever way it arrives (sendSms, smsQuote, a CSV file). */
export const sendSmsInputSchema = z
  .object({
    message: storableText
      .refine(hasVisibleText, coded('MISSING_MESSAGE', 'the message text is empty'))
      .refine((text) => text.length <= MAX_TEXT_LENGTH, coded('MESSAGE_TOO_LONG', `at most ${MAX_TEXT_LENGTH} characters`)),
    recipients: z.array(recipientText).nullish(),
    personalized: z.array(z.object({ to: recipientText, variables })).nullish(),
    senderId: z
      .string()
      .refine((id) => SENDER_ID.test(id), coded('INVALID_SENDER_ID', 'letters and digits, at most 11, or a number of up to 15 digits'))
      .nullish(),
    // Its window (future, at most 35 days) is checked when the message is planned: a retry of
    // an accepted request must find its message, even once the time has passed.
    scheduleTime: z.date().nullish(),
    reference: storableText
      .min(1, 'the reference is empty')
      .max(128, 'at most 128 characters')
      .refine((ref) => !/\p{Cc}/u.test(ref), 'control characters are not allowed')
      .nullish(),
    provider: storableText.max(64).nullish(),
  })
  .refine(
    (input) => (input.recipients?.length ?? 0) + (input.personalized?.length ?? 0) > 0,
    coded('MISSING_RECIPIENTS', 'give recipients or personalized'),
  )
  .refine(
    (input) => (input.recipients?.length ?? 0) + (input.personalized?.length ?? 0) <= MAX_RECIPIENTS,
    coded('BAD_USER_INPUT', `at most ${MAX_RECIPIENTS} recipients per request`),
  );
