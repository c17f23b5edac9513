import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mifumo } from '../../src/providers/mifumo/index.ts';
import { nextsms } from '../../src/providers/nextsms/index.ts';
import type { SimulatorServer } from '../../src/providers/simulator/server.ts';
import { gql, gqlData } from '../support/client.ts';
import { MessageById, SendSms, SmsQuote } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { eventually } from '../support/process.ts';
import { accountState } from '../support/state.ts';

// Acceptance 1 of issue 12: a text no provider of its route can carry is refused before anything is stored.
const LONG = 'Habari! '.repeat(37) + 'Asante.'; // 303 characters, 2 GSM-7 segments
const KENYA = '+254712345671'; // route: Mifumo only
const TANZANIA = '+255712345671'; // route: Mifumo, then NextSMS

describe('routing by what a provider can carry', () => {
  let mifumoSim: SimulatorServer;
  let nextsmsSim: SimulatorServer;
  let gateway: TestGateway;

  beforeAll(async () => {
    mifumoSim = mifumo.createSimulator(mifumo.simulatorConfig, { reportDelayMs: 50, rateLimits: false } as never);
    nextsmsSim = nextsms.createSimulator(nextsms.simulatorConfig, { reportDelayMs: 50 });
    await Promise.all([mifumoSim.start(), nextsmsSim.start()]);
    gateway = await startGateway({
      ...mifumo.environment(mifumo.simulatorConfig, mifumoSim.url),
      ...nextsms.environment(nextsms.simulatorConfig, nextsmsSim.url),
      ROUTES: JSON.stringify({ default: ['mifumo'], TZ: ['mifumo', 'nextsms'] }),
      REPORT_POLL_AFTER_MS: '100',
      PROVIDER_BALANCE_CHECK_MS: '0',
    });
  });
  afterAll(async () => {
    await gateway.stop();
    await Promise.all([mifumoSim.stop(), nextsmsSim.stop()]);
  });

  it('refuses a 300-character text with only Mifumo on the route: NO_ROUTE, nothing stored or charged, nothing sent', async () => {
    const { apiKey, accountId } = await gateway.account({ credit: '1' });
    const before = await accountState(gateway.app.services.db, accountId);
    const input = { message: LONG, recipients: [KENYA] };

    const quote = await gqlData(gateway.graphqlUrl, apiKey, SmsQuote, { input });
    expect(quote.smsQuote).toMatchObject({ provider: null, acceptedRecipients: [], rejectedRecipients: [{ input: KENYA, code: 'NO_ROUTE' }] });

    const result = await gql(gateway.graphqlUrl, apiKey, SendSms, { input });
    expect(result.errors?.map((e) => e.extensions?.code)).toEqual(['NO_ROUTE']);
    expect(result.errors![0]!.message).toMatch(/mifumo takes at most 160 characters/);
    expect(result.data?.sendSms ?? null).toBeNull();
    expect(await accountState(gateway.app.services.db, accountId)).toEqual(before);
    expect(await gateway.app.services.db.message.count({ where: { accountId } })).toBe(0);
    expect(mifumoSim.requests('/api/integration/v1/sms/send/')).toHaveLength(0);
    expect(nextsmsSim.requests('/api/sms/v1/text')).toHaveLength(0);
  });

  it('sends it to NextSMS when Mifumo and NextSMS are on the route, and says so in the quote', async () => {
    const { apiKey } = await gateway.account({ credit: '1' });
    const input = { message: LONG, recipients: [TANZANIA] };
    expect((await gqlData(gateway.graphqlUrl, apiKey, SmsQuote, { input })).smsQuote).toMatchObject({ provider: 'nextsms', segments: 2 });
    // A short text still goes to Mifumo, the first of the route.
    expect((await gqlData(gateway.graphqlUrl, apiKey, SmsQuote, { input: { ...input, message: 'Habari' } })).smsQuote.provider).toBe('mifumo');

    const sent = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input });
    const message = await eventually(async () => {
      const read = (await gqlData(gateway.graphqlUrl, apiKey, MessageById, { id: sent.sendSms.message.id })).message!;
      return read.deliveries[0]!.status === 'DELIVERED' && read;
    }, 'the delivery to be delivered');
    expect(message.deliveries[0]).toMatchObject({ provider: 'nextsms' });
    expect(message.deliveries[0]!.attempts.map((a) => [a.provider, a.outcome])).toEqual([['nextsms', 'SUBMITTED']]);
    expect(mifumoSim.requests('/api/integration/v1/sms/send/')).toHaveLength(0);
    expect(nextsmsSim.requests('/api/sms/v1/text/single').map((r) => (r.body as { to: unknown }).to)).toEqual(['255712345671']);
  });

  it('refuses a forced provider that cannot carry the text with NO_ROUTE', async () => {
    const { apiKey } = await gateway.account({ credit: '1' });
    const result = await gql(gateway.graphqlUrl, apiKey, SendSms, { input: { message: LONG, recipients: [TANZANIA], provider: 'mifumo' } });
    expect(result.errors?.map((e) => e.extensions?.code)).toEqual(['NO_ROUTE']);
  });
});
