import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/accounts/accounts.ts';
import type { Caller } from '../../src/accounts/caller.ts';
import { createDb } from '../../src/db/client.ts';
import type { Accepted } from '../../src/messages/accept.ts';
import { planSend, type SendSmsInput } from '../../src/messages/send-plan.ts';
import type { GatewayError } from '../../src/shared/errors.ts';
import { gql } from '../support/client.ts';
import { createTestDatabase } from '../support/database.ts';
import { SendSms } from '../support/documents.ts';
import { REDIS_URL, startGateway, type TestGateway } from '../support/gateway.ts';
import { eventually, spawnGateway, type GatewayProcess } from '../support/process.ts';
import { accountState } from '../support/state.ts';

const OK = '+255712345671';

/** A caller as authentication would make it, for submitting to the acceptance queue directly. */
async function callerOf(gateway: TestGateway, accountId: string, apiKeyId: string): Promise<Caller> {
  const account = await gateway.app.services.db.account.findUniqueOrThrow({ where: { id: accountId } });
  return { accountId, apiKeyId, keyPrefix: 'test', scopes: ['send', 'read'], isTest: account.isTest, currency: account.currency };
}

type Settled = { ok: true; value: Accepted } | { ok: false; code: unknown };

describe('requests accepted together, in one transaction', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway({ DISPATCHER: 'off' });
  });
  afterAll(() => gateway.stop());

  /** Submits every request in the same turn of the event loop, so that they share one batch. */
  async function submitTogether(requests: Array<{ caller: Caller; input: SendSmsInput }>): Promise<Settled[]> {
    const { services } = gateway.app;
    const pending = requests.map(({ caller, input }) =>
      services.acceptQueue.submit({ caller, plan: planSend(input, caller, services.config, services.providers) }),
    );
    return Promise.all(
      pending.map((p) =>
        p.then(
          (value): Settled => ({ ok: true, value }),
          (error: GatewayError): Settled => ({ ok: false, code: error.code }),
        ),
      ),
    );
  }

  it('refuses only the sends an account cannot pay for; the other account in the batch is not affected', async () => {
    const rich = await gateway.account({ credit: '10' });
    const poor = await gateway.account({ credit: '0.03' }); // one message of 0.02 fits, a second does not
    const richCaller = await callerOf(gateway, rich.accountId, rich.apiKeyId);
    const poorCaller = await callerOf(gateway, poor.accountId, poor.apiKeyId);
    const requests = Array.from({ length: 8 }, (_, i) => ({
      caller: i % 2 === 0 ? richCaller : poorCaller,
      input: { message: `batch ${i}`, recipients: [OK] },
    }));

    const results = await submitTogether(requests);
    expect(results.map((r) => (r.ok ? 'OK' : r.code))).toEqual([
      'OK', 'OK', // the poor account's first send fits
      'OK', 'INSUFFICIENT_BALANCE',
      'OK', 'INSUFFICIENT_BALANCE',
      'OK', 'INSUFFICIENT_BALANCE',
    ]);
    // Four messages of the rich account and one of the poor, all written by one transaction.
    const accepted = results.flatMap((r) => (r.ok ? [r.value.messageId] : []));
    const rows = await gateway.app.services.db.message.findMany({ where: { id: { in: accepted } }, select: { createdAt: true } });
    expect(rows).toHaveLength(5);
    expect(new Set(rows.map((row) => row.createdAt.getTime())).size).toBe(1);

    expect(await accountState(gateway.app.services.db, rich.accountId)).toMatchObject({ messages: 4, deliveries: 4, events: 4, ledger: 5, balance: '9.92' });
    expect(await accountState(gateway.app.services.db, poor.accountId)).toMatchObject({ messages: 1, deliveries: 1, events: 1, ledger: 2, balance: '0.01' });
  });

  it('sends a reference used twice in one batch once: the repeat gets the same message, another input DUPLICATE_REFERENCE', async () => {
    const { accountId, apiKeyId } = await gateway.account({ credit: '1' });
    const caller = await callerOf(gateway, accountId, apiKeyId);
    const input = { message: 'pay once', recipients: [OK], reference: 'invoice-9' };
    const results = await submitTogether([
      { caller, input },
      { caller, input },
      { caller, input: { ...input, message: 'something else' } },
    ]);

    expect(results[0]).toMatchObject({ ok: true, value: { replayed: false } });
    expect(results[1]).toMatchObject({ ok: true, value: { replayed: true, messageId: (results[0] as { value: Accepted }).value.messageId } });
    expect(results[2]).toEqual({ ok: false, code: 'DUPLICATE_REFERENCE' });
    expect(await accountState(gateway.app.services.db, accountId)).toMatchObject({ messages: 1, deliveries: 1, ledger: 2, balance: '0.98' });
  });
});

describe('a gateway killed while batches of sends are being written', () => {
  const running: GatewayProcess[] = [];
  afterAll(async () => {
    await Promise.all(running.map((p) => p.stop('SIGKILL')));
  });

  it('keeps every send it answered, writes every batch whole or not at all, and charges each reference once', async () => {
    const databaseUrl = await createTestDatabase();
    const env = { DATABASE_URL: databaseUrl, REDIS_URL, DISPATCHER: 'off', RATE_LIMITS: JSON.stringify({ send: 100_000 }) };
    const db = createDb(databaseUrl, 2);
    const { apiKey, accountId } = await createAccount(db, { name: 'crash', currency: 'USD', credit: '1000' });
    const input = (i: number) => ({ message: `order ${i}`, recipients: [OK, '+255712345672'], reference: `order-${i}` });
    const TOTAL = 400;

    const first = await spawnGateway(env);
    running.push(first);
    const firstUrl = `${first.url}/graphql`;
    const answered = new Map<number, string>();
    let next = 0;
    let killed = false;
    // 25 clients at once; the gateway is killed as soon as 100 sends are answered, with others in flight.
    await Promise.all(
      Array.from({ length: 25 }, async () => {
        while (!killed && next < TOTAL) {
          const i = next++;
          const result = await gql(firstUrl, apiKey, SendSms, { input: input(i) }).catch(() => undefined);
          const id = result?.data?.sendSms.message.id;
          if (id) answered.set(i, id);
          if (answered.size >= 100 && !killed) {
            killed = true;
            first.child.kill('SIGKILL');
          }
        }
      }),
    );
    await first.exited;

    const second = await spawnGateway(env);
    running.push(second);
    const secondUrl = `${second.url}/graphql`;
    // Clients retry everything with the same references.
    for (let i = 0; i < TOTAL; i += 25) {
      await Promise.all(
        Array.from({ length: 25 }, async (_, j) => {
          const result = await gql(secondUrl, apiKey, SendSms, { input: input(i + j) });
          const id = result.data?.sendSms.message.id;
          expect(id).toBeTruthy();
          // What was answered before the crash is what a retry gets now.
          if (answered.has(i + j)) expect(id).toBe(answered.get(i + j));
        }),
      );
    }

    const raw = new pg.Client({ connectionString: databaseUrl });
    await raw.connect();
    const { rows } = await raw.query(`
      SELECT
        (SELECT count(*)::int FROM messages WHERE account_id = $1) AS messages,
        (SELECT count(DISTINCT reference)::int FROM messages WHERE account_id = $1) AS "references",
        (SELECT count(*)::int FROM deliveries WHERE account_id = $1) AS deliveries,
        (SELECT count(*)::int FROM delivery_events WHERE account_id = $1) AS events,
        (SELECT max(seq)::int FROM delivery_events WHERE account_id = $1) AS "lastSeq",
        (SELECT count(*)::int FROM ledger_entries WHERE account_id = $1 AND kind = 'DEBIT') AS debits,
        (SELECT balance::text FROM accounts WHERE id = $1) AS balance`, [accountId]);
    // One message per reference, each with its two deliveries and their first events (numbered
    // without a gap), one debit each, and a balance that adds up to the cent.
    expect(rows[0]).toEqual({
      messages: TOTAL,
      references: TOTAL,
      deliveries: 2 * TOTAL,
      events: 2 * TOTAL,
      lastSeq: 2 * TOTAL,
      debits: TOTAL,
      balance: (1000 - TOTAL * 0.04).toFixed(4),
    });

    // And every delivery accepted, before the crash or after it, is sent once a dispatcher runs:
    // each ends DELIVERED with exactly one SENT in its history.
    await second.stop('SIGTERM');
    const dispatcher = await spawnGateway({ ...env, DISPATCHER: 'on', SANDBOX_DELIVERY_DELAY_MS: '0' });
    running.push(dispatcher);
    await eventually(
      async () => (await db.delivery.count({ where: { accountId, status: { not: 'DELIVERED' } } })) === 0,
      'every delivery to be delivered',
      30_000,
    );
    const { rows: sent } = await raw.query(
      `SELECT count(*)::int AS events, count(DISTINCT delivery_id)::int AS deliveries FROM delivery_events WHERE account_id = $1 AND status = 'SENT'`,
      [accountId],
    );
    expect(sent[0]).toEqual({ events: 2 * TOTAL, deliveries: 2 * TOTAL });
    await raw.end();
    await db.$disconnect();
  });
});
