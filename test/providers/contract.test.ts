import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import type { SimulatorServer } from '../../src/providers/simulator/server.ts';
import type { OutboundSms, SmsProvider, StatusQuery, SubmitBatch, SubmitOutcome } from '../../src/providers/types.ts';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { DeliveryReports, DeliveryUpdated, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { eventually } from '../support/process.ts';
import { statusQueriesFor, type ProviderHarness } from './harness.ts';
import { HARNESSES } from './harnesses/index.ts';

const logger = createLogger('silent');
const FINAL = ['DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED'];

function batchOf(recipients: string[], text = 'Contract test message'): SubmitBatch {
  const messageId = randomUUID();
  return {
    reference: randomUUID(),
    senderId: 'ACME',
    // Nothing listens there: providers that call back find the gateway unreachable, as it may be.
    callbackUrl: 'http://127.0.0.1:9/callbacks/contract?token=x',
    items: recipients.map(
      (recipient): OutboundSms => ({
        deliveryId: randomUUID(),
        messageId,
        recipient,
        text,
      }),
    ),
  };
}

function failures(outcomes: SubmitOutcome[]) {
  return outcomes.map((o) => (o.outcome === 'failed' ? { code: o.errorCode, permanent: o.permanent } : { code: 'accepted' }));
}

describe.each(HARNESSES)('$module.name', (harness: ProviderHarness<any>) => {
  const { module } = harness;
  const config = module.simulatorConfig;
  let sim: SimulatorServer;
  let adapter: SmsProvider;
  const adapterWith = (c: unknown, timeoutMs = 2000) =>
    module.create({ ...(c as object), baseUrl: sim.url }, { logger, timeoutMs });

  beforeAll(async () => {
    sim = module.createSimulator(config, { reportDelayMs: 100 });
    await sim.start();
    adapter = adapterWith(config);
  });
  afterAll(() => sim.stop());

  it('sends to one recipient exactly as the document shows', async () => {
    const before = sim.requests().length;
    const batch = batchOf([harness.numbers.delivered[0]!]);
    const outcomes = await adapter.send(batch);
    expect(outcomes).toMatchObject([{ deliveryId: batch.items[0]!.deliveryId, outcome: 'accepted' }]);
    const sent = sim.requests().slice(before);
    expect(sent).toHaveLength(1);
    harness.expectDocumentedSubmission(sent[0]!, batch, config);
  });

  it('sends to several recipients', async () => {
    const before = sim.requests().length;
    const batch = batchOf([...harness.numbers.delivered, harness.numbers.failed]);
    const outcomes = await adapter.send(batch);
    expect(outcomes.map((o) => o.outcome)).toEqual(batch.items.map(() => 'accepted'));
    const ids = outcomes.map((o) => (o.outcome === 'accepted' ? o.providerMessageId : ''));
    expect(ids.every(Boolean)).toBe(true);
    const sent = sim.requests().slice(before);
    expect(sent).toHaveLength(harness.submissionsFor(batch.items.length));
    const perRequest = Math.ceil(batch.items.length / sent.length);
    sent.forEach((request, i) =>
      harness.expectDocumentedSubmission(request, { ...batch, items: batch.items.slice(i * perRequest, (i + 1) * perRequest) }, config),
    );
  });

  it('maps every documented status and error code', () => {
    for (const { raw, status, permanent, errorCode } of harness.mappingCases) {
      const mapped = harness.mapRaw(raw);
      expect(mapped, raw).toBeDefined();
      expect(mapped!.status, raw).toBe(status);
      if (permanent !== undefined) expect(mapped!.permanent, raw).toBe(permanent);
      if (errorCode !== undefined) expect(mapped!.errorCode, raw).toBe(errorCode);
    }
  });

  it('reports wrong credentials as a permanent failure', async () => {
    const outcomes = await adapterWith(harness.wrongCredentials(config)).send(batchOf([harness.numbers.delivered[0]!]));
    expect(failures(outcomes)).toEqual([{ code: harness.wrongCredentialsCode, permanent: true }]);
  });

  it.each([
    ['HTTP 500', { kind: 'http500' as const }, 'PROVIDER_ERROR'],
    ['HTTP 429', { kind: 'http429' as const, retryAfterSeconds: 7 }, 'PROVIDER_RATE_LIMITED'],
    ['a timeout', { kind: 'timeout' as const }, 'PROVIDER_TIMEOUT'],
    ['a slow answer past the timeout', { kind: 'slow' as const, delayMs: 1500 }, 'PROVIDER_TIMEOUT'],
    ['a malformed body', { kind: 'malformed' as const }, 'PROVIDER_BAD_RESPONSE'],
  ])('turns %s into a retryable failure, then recovers', async (_name, fault, code) => {
    sim.injectFault({ ...fault, times: 1 });
    const batch = batchOf([harness.numbers.delivered[0]!]);
    const outcomes = await adapterWith(config, 400).send(batch);
    expect(failures(outcomes)).toEqual([{ code, permanent: false }]);
    if (fault.kind === 'http429') expect(outcomes[0]).toMatchObject({ retryAfterMs: 7000 });
    expect(await adapter.send(batch)).toMatchObject([{ outcome: 'accepted' }]);
  });

  it('waits out a slow answer within the timeout', async () => {
    sim.injectFault({ kind: 'slow', delayMs: 300, times: 1 });
    expect(await adapterWith(config, 3000).send(batchOf([harness.numbers.delivered[0]!]))).toMatchObject([{ outcome: 'accepted' }]);
  });

  it.skipIf(harness.balance === false)('reads its balance', async () => {
    const balance = await adapter.fetchBalance();
    expect(balance.amount).toMatch(/^\d+(\.\d+)?$/);
  });

  it.runIf(harness.balance === false)('says plainly that it has no balance to read', async () => {
    await expect(adapter.fetchBalance()).rejects.toThrow(/balance/i);
  });

  it('reports final statuses when asked for them', async () => {
    const batch = batchOf([harness.numbers.delivered[0]!, harness.numbers.failed]);
    const outcomes = await adapter.send(batch);
    const queries = statusQueriesFor(batch, outcomes);
    const reports = await eventually(async () => {
      const found = await adapter.fetchStatus(queries);
      return found.filter((r) => FINAL.includes(r.status)).length === 2 && found;
    }, 'final statuses from the status endpoint');
    const byId = Object.fromEntries(reports.map((r) => [r.deliveryId, r.status]));
    expect(byId[queries[0]!.deliveryId]).toBe('DELIVERED');
    expect(['FAILED', 'REJECTED']).toContain(byId[queries[1]!.deliveryId]);
  });

  it('keeps the reports of the status requests that were answered when another one fails', async () => {
    const batches = [batchOf([harness.numbers.delivered[0]!]), batchOf([harness.numbers.delivered[1]!])];
    const queries: StatusQuery[] = [];
    for (const batch of batches) queries.push(...statusQueriesFor(batch, await adapter.send(batch)));
    expect(new Set(queries.map((q) => q.providerMessageId)).size).toBe(2);
    await eventually(async () => (await adapter.fetchStatus(queries)).length === 2, 'both reports');

    sim.injectFault({ kind: 'http500', times: 1, path: harness.paths.status });
    const reports = await adapter.fetchStatus(queries);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ status: 'DELIVERED' });
    expect(queries.map((q) => q.deliveryId)).toContain(reports[0]!.deliveryId);
  });

  it('marks a submission whose connection dropped after it was taken as ambiguous, and finds it where the provider can be asked', async () => {
    sim.injectFault({ kind: 'drop', times: 1, path: harness.paths.send });
    const since = new Date();
    const batch = batchOf([harness.numbers.delivered[0]!], `Lost ${randomUUID()}`);
    const [outcome] = await adapter.send(batch);
    expect(outcome).toMatchObject({ outcome: 'failed', permanent: false, ambiguous: true });
    if (!adapter.findSubmitted) return;
    const item = batch.items[0]!;
    const found = await adapter.findSubmitted([{ ...item, senderId: batch.senderId, reference: batch.reference, since }]);
    expect(found).toEqual([expect.objectContaining({ deliveryId: item.deliveryId, providerMessageId: expect.any(String) })]);
    // A submission the provider never took is not found.
    const other = batchOf([harness.numbers.delivered[1]!], `Never sent ${randomUUID()}`);
    expect(await adapter.findSubmitted([{ ...other.items[0]!, senderId: other.senderId, reference: other.reference, since }])).toEqual([]);
  });

  describe('through the gateway', () => {
    let gateway: TestGateway;

    beforeAll(async () => {
      gateway = await startGateway({ ...module.environment(config, sim.url), REPORT_POLL_AFTER_MS: '150' });
      harness.connectReports?.(sim, `${gateway.url}/callbacks/${module.name}?token=${gateway.app.services.callbacks.secret}`);
    });
    afterAll(() => gateway.stop());

    it('ends DELIVERED for a delivering number and failed, with the provider code, for a failing one', async () => {
      const { apiKey, accountId } = await gateway.account();
      const updates = new Collector(wsClient(gateway.wsUrl, apiKey), DeliveryUpdated);
      await gateway.subscribersLive(accountId);
      const recipients = [harness.numbers.delivered[0]!, harness.numbers.failed];
      const sent = await gqlData(gateway.graphqlUrl, apiKey, SendSms, {
        input: { message: 'Through the gateway', recipients, provider: module.name },
      });
      await updates.until((items) => items.filter((u) => FINAL.includes(u.deliveryUpdated.delivery.status)).length === 2, 'two final statuses');
      updates.dispose();

      const final = updates.items.filter((u) => FINAL.includes(u.deliveryUpdated.delivery.status)).map((u) => u.deliveryUpdated.delivery);
      const delivered = final.find((d) => d.recipient === recipients[0]);
      const failed = final.find((d) => d.recipient === recipients[1]);
      expect(delivered).toMatchObject({ status: 'DELIVERED', provider: module.name });
      expect(['FAILED', 'REJECTED']).toContain(failed?.status);
      expect(failed?.errorCode).toBeTruthy();

      const reports = await gqlData(gateway.graphqlUrl, apiKey, DeliveryReports, { filter: { messageId: sent.sendSms.message.id } });
      const states = Object.fromEntries(reports.deliveryReports.edges.map((e) => [e.node.recipient, [e.node.status, e.node.errorCode]]));
      expect(states[recipients[0]!]).toEqual(['DELIVERED', null]);
      expect(states[recipients[1]!]).toEqual([failed!.status, failed!.errorCode]);
      if (module.create(config, { logger, timeoutMs: 1000 }).capabilities.reports === 'callback') {
        // The reports came the provider's way: as callbacks the gateway accepted.
        expect((await sim.callbacksAnswered(2)).filter((c) => c.status === 200).length).toBeGreaterThanOrEqual(2);
      }
    });
  });
});
