import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, gqlData } from '../support/client.ts';
import { AddOptOuts, Balance, OptOuts, RemoveOptOuts, SendSms, SmsQuote } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const run = promisify(execFile);

describe('opt-outs', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway();
  });
  afterAll(() => gateway.stop());

  it('are honoured by sendSms and smsQuote, listed, and removable', async () => {
    const { apiKey } = await gateway.account({ credit: '1' });
    const other = await gateway.account({ credit: '1' });
    // Read as sendSms reads numbers: national, international digits or E.164.
    const { addOptOuts } = await gqlData(gateway.graphqlUrl, apiKey, AddOptOuts, { recipients: ['0712345672', '255712345673', '+255712345672'] });
    expect(addOptOuts.map((o) => o.recipient)).toEqual(['+255712345672', '+255712345673']);

    const recipients = ['+255712345671', '0712345672', '+255712345673'];
    const { smsQuote } = await gqlData(gateway.graphqlUrl, apiKey, SmsQuote, { input: { message: 'hi', recipients } });
    expect(smsQuote).toMatchObject({ acceptedRecipients: ['+255712345671'], cost: '0.02' });
    expect(smsQuote.rejectedRecipients).toEqual([
      { input: '+255712345672', code: 'OPTED_OUT' },
      { input: '+255712345673', code: 'OPTED_OUT' },
    ]);
    // Sent together, so that both are likely accepted in one batch: each account's list is its own.
    const [{ sendSms }, theirs] = await Promise.all([
      gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'hi', recipients } }),
      gqlData(gateway.graphqlUrl, other.apiKey, SendSms, { input: { message: 'hi', recipients } }),
    ]);
    expect(theirs.sendSms.rejectedRecipients).toEqual([]);
    expect(theirs.sendSms.message.recipientCount).toBe(3);
    expect(sendSms.message).toMatchObject({ recipientCount: 1, cost: '0.02' });
    expect(sendSms.message.deliveries.map((d) => d.recipient)).toEqual(['+255712345671']);
    expect(sendSms.rejectedRecipients.map((r) => [r.input, r.code])).toEqual([
      ['+255712345672', 'OPTED_OUT'],
      ['+255712345673', 'OPTED_OUT'],
    ]);
    expect((await gqlData(gateway.graphqlUrl, apiKey, Balance, {})).balance.amount).toBe('0.98');
    // Everyone opted out: nothing is sent or charged.
    const none = await gql(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'hi', recipients: ['+255712345672'] } });
    expect(none.errors?.[0]?.extensions?.code).toBe('NO_VALID_RECIPIENTS');
    expect((await gqlData(gateway.graphqlUrl, apiKey, Balance, {})).balance.amount).toBe('0.98');

    const page = await gqlData(gateway.graphqlUrl, apiKey, OptOuts, { first: 1 });
    expect(page.optOuts.edges.map((e) => e.node.recipient)).toEqual(['+255712345672']);
    expect(page.optOuts.pageInfo.hasNextPage).toBe(true);
    const next = await gqlData(gateway.graphqlUrl, apiKey, OptOuts, { first: 1, after: page.optOuts.pageInfo.endCursor });
    expect(next.optOuts.edges.map((e) => e.node.recipient)).toEqual(['+255712345673']);
    expect(next.optOuts.pageInfo.hasNextPage).toBe(false);

    const bad = await gql(gateway.graphqlUrl, apiKey, AddOptOuts, { recipients: ['+255712345674', 'not a number'] });
    expect(bad.errors?.[0]?.extensions?.code).toBe('INVALID_PHONE_FORMAT');
    expect((await gqlData(gateway.graphqlUrl, apiKey, OptOuts, {})).optOuts.edges).toHaveLength(2);

    const { removeOptOuts } = await gqlData(gateway.graphqlUrl, apiKey, RemoveOptOuts, { recipients: ['0712345672', '+255712345679'] });
    expect(removeOptOuts).toBe(1);
    const after = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'hi again', recipients: ['0712345672'] } });
    expect(after.sendSms.rejectedRecipients).toEqual([]);
    expect(after.sendSms.message.recipientCount).toBe(1);
  });

  it('imports a list from a CSV file with `cli optouts import`', async () => {
    const { apiKey, accountId } = await gateway.account();
    await gqlData(gateway.graphqlUrl, apiKey, AddOptOuts, { recipients: ['+255712345671'] });
    const dir = await mkdtemp(path.join(tmpdir(), 'optouts-'));
    const file = path.join(dir, 'list.csv');
    await writeFile(file, 'msisdn,name\n+255712345671,Asha\n0712345672,Juma\n255712345673,Neema\nnonsense,Who\n');
    const { stdout } = await run('npm', ['run', '--silent', 'cli', '--', 'optouts', 'import', '--account', accountId, '--csv', file], {
      env: { ...process.env, DATABASE_URL: gateway.databaseUrl, REDIS_URL: '' },
    });
    expect(JSON.parse(stdout)).toEqual({ accountId, imported: 2, alreadyListed: 1, rejected: 1 });
    const listed = await gqlData(gateway.graphqlUrl, apiKey, OptOuts, {});
    expect(listed.optOuts.edges.map((e) => e.node.recipient)).toEqual(['+255712345671', '+255712345672', '+255712345673']);
  });
});
