import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
import { groupBy } from '../shared/group-by.ts';
import type { Caller } from '../accounts/caller.ts';
import { GatewayError } from '../shared/errors.ts';
import type { Services } from '../services.ts';
import { acceptSend } from './accept.ts';
import { MAX_RECIPIENTS } from './limits.ts';
import { sendSmsInputSchema } from './send-input.ts';
import { planSend } from './send-plan.ts';
import { validationError } from '../shared/validation-errors.ts';

const PHONE_COLUMNS = ['phone', 'to', 'recipient', 'msisdn', 'number'];

export type CsvSendResult = { messages: number; recipients: number; rejected: number };

type Row = Record<string, string>;

/** The rows of a CSV file with a header row (names lower-cased), and which column holds the numbers. */
export async function readPhoneCsv(file: string): Promise<{ rows: Row[]; phoneColumn: string }> {
  const rows: Row[] = [];
  for await (const row of createReadStream(file).pipe(parse({ columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()), skip_empty_lines: true, trim: true, bom: true }))) {
    rows.push(row as Row);
  }
  const phoneColumn = PHONE_COLUMNS.find((name) => rows[0] && name in rows[0]);
  if (!phoneColumn) throw new GatewayError('MISSING_RECIPIENTS', `the CSV needs a column named ${PHONE_COLUMNS.join(', ')}`);
  return { rows, phoneColumn };
}

/**
 * Bulk send from a CSV file with a header row: a phone column (phone, to, recipient, msisdn
 * or number), an optional `message` column, and any other columns as {{placeholder}} values.
 * Rows are grouped by text into messages of at most 10,000 recipients, each accepted like a
 * sendSms (validated, priced, debited, queued); the running gateway dispatches them.
 */
export async function sendCsv(
  services: Pick<Services, 'db' | 'bus' | 'config' | 'providers'> & Partial<Pick<Services, 'router'>>,
  caller: Caller,
  file: string,
  options: { message?: string; onProgress?: (done: number, total: number) => void },
): Promise<CsvSendResult> {
  const { rows, phoneColumn } = await readPhoneCsv(file);
  if (rows.some((row) => !(options.message ?? row.message))) {
    throw new GatewayError('MISSING_MESSAGE', 'give --message or a `message` column on every row');
  }
  const byText = groupBy(rows, (row) => (options.message ?? row.message)!);

  const result: CsvSendResult = { messages: 0, recipients: 0, rejected: 0 };
  let done = 0;
  options.onProgress?.(0, rows.length);
  for (const [text, group] of byText) {
    for (let i = 0; i < group.length; i += MAX_RECIPIENTS) {
      const chunk = group.slice(i, i + MAX_RECIPIENTS);
      const personalised = /\{\{/.test(text);
      // The same rules as sendSms: a CSV is just another way to ask.
      const checked = sendSmsInputSchema.safeParse(
        personalised
          ? { message: text, personalized: chunk.map((row) => ({ to: row[phoneColumn]!, variables: variablesOf(row, phoneColumn) })) }
          : { message: text, recipients: chunk.map((row) => row[phoneColumn]!) },
      );
      if (!checked.success) throw validationError({ issues: checked.error.issues });
      const plan = planSend(checked.data, caller, services.config, services.providers, { router: services.router });
      // Acceptance leaves out opted-out numbers: its answer says who was sent to.
      const accepted = await acceptSend(services, caller, plan);
      result.messages += 1;
      result.recipients += accepted.message?.recipientCount ?? plan.deliveries.length;
      result.rejected += accepted.rejectedRecipients.length;
      done += chunk.length;
      options.onProgress?.(done, rows.length);
    }
  }
  return result;
}

function variablesOf(row: Row, phoneColumn: string): Record<string, string> {
  return Object.fromEntries(Object.entries(row).filter(([key]) => key !== phoneColumn && key !== 'message'));
}
