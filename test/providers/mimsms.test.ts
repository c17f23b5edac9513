import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { createMimsmsProvider, type MimsmsConfig } from '../../src/providers/mimsms/adapter.ts';
import { mimsms } from '../../src/providers/mimsms/index.ts';
import { createMimsmsSimulator, type MimsmsSimulatorOptions } from '../../src/providers/mimsms/simulator.ts';
import { formatMimTime } from '../../src/providers/mimsms/time.ts';
import { SimulatorServer, type SimResponse } from '../../src/providers/simulator/server.ts';
import type { OutboundSms, SubmitBatch, SubmitOutcome } from '../../src/providers/types.ts';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { DeliveryUpdated, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { eventually } from '../support/process.ts';
import { capturingLogger, statusQueriesFor } from './harness.ts';

// Behaviour of MiM SMS the shared contract suite does not cover (provider-docs/001).

const config: MimsmsConfig = mimsms.simulatorConfig;
const silent = createLogger('silent');

function batchOf(recipients: string[], options: { text?: string; senderId?: string } = {}): SubmitBatch {
  return {
    senderId: options.senderId ?? 'ACME',
    items: recipients.map(
      (recipient, i): OutboundSms => ({
        deliveryId: `0193a4f2-0000-7000-8000-${String(i).padStart(12, '0')}`,
        messageId: '0193a4f2-0000-7000-8000-ffffffffffff',
        recipient,
        text: options.text ?? 'Hello from the MiM tests',
      }),
    ),
  };
}

function failure(outcome: SubmitOutcome | undefined) {
  if (outcome?.outcome !== 'failed') return { outcome: outcome?.outcome };
  return { status: outcome.status, errorCode: outcome.errorCode, permanent: outcome.permanent };
}

function adapterFor(sim: SimulatorServer, overrides: Partial<MimsmsConfig> = {}, logger = silent) {
  return createMimsmsProvider({ ...config, ...overrides, baseUrl: sim.url }, { logger, timeoutMs: 2000 });
}

async function startSimulator(options: MimsmsSimulatorOptions = {}) {
  const sim = createMimsmsSimulator(config, { reportDelayMs: 50, ...options });
  await sim.start();
  return sim;
}

/** A request straight to the simulator, the way a MiM client would make it. */
async function post(sim: SimulatorServer, path: string, fields: Record<string, unknown>) {
  const response = await fetch(`${sim.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ api_key: config.apiKey, username: config.username, password: config.password, ...fields }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

describe('mimsms adapter against its simulator', () => {
  let sim: SimulatorServer;
  beforeAll(async () => {
    sim = await startSimulator();
  });
  afterAll(() => sim.stop());

  it('fails a number outside Bangladesh permanently without calling MiM', async () => {
    const before = sim.requests().length;
    const outcomes = await adapterFor(sim).send(batchOf(['+255712345671', '+8801712345671']));
    expect(failure(outcomes[0])).toEqual({ status: 'REJECTED', errorCode: 'MIMSMS_UNSUPPORTED_RECIPIENT', permanent: true });
    expect(outcomes[1]).toMatchObject({ outcome: 'accepted' });
    const sent = sim.requests().slice(before);
    expect(sent.map((r) => (r.body as { phone: string }).phone)).toEqual(['8801712345671']);
  });

  it('takes a rejection at submission as a permanent REJECTED, without charge', async () => {
    const adapter = adapterFor(sim);
    const before = await adapter.fetchBalance();
    const outcomes = await adapter.send(batchOf(['+8801712345677']));
    expect(failure(outcomes[0])).toEqual({ status: 'REJECTED', errorCode: 'MIMSMS_REJECTED', permanent: true });
    expect(outcomes[0]).toMatchObject({ errorMessage: 'SMS rejected by provider' });
    expect(await adapter.fetchBalance()).toEqual(before);
  });

  it('charges 0.50 BDT per message and reads the balance', async () => {
    const adapter = adapterFor(sim);
    const before = await adapter.fetchBalance();
    expect(before.currency).toBe('BDT');
    await adapter.send(batchOf(['+8801712345671']));
    const after = await adapter.fetchBalance();
    expect(Math.round((Number(before.amount) - Number(after.amount)) * 100)).toBe(50);
  });

  it('refuses a wrong username or password permanently (1002)', async () => {
    const outcomes = await adapterFor(sim, { password: 'not-the-password' }).send(batchOf(['+8801712345671']));
    expect(failure(outcomes[0])).toEqual({ status: 'FAILED', errorCode: 'MIMSMS_INVALID_CREDENTIALS', permanent: true });
    await expect(adapterFor(sim, { username: 'someone' }).fetchBalance()).rejects.toThrow(/MIMSMS_INVALID_CREDENTIALS/);
  });

  it('lets MiM judge the length: over 160 characters is 1006, permanent', async () => {
    const adapter = adapterFor(sim);
    expect(await adapter.send(batchOf(['+8801712345671'], { text: 'x'.repeat(160) }))).toMatchObject([{ outcome: 'accepted' }]);
    const outcomes = await adapter.send(batchOf(['+8801712345671'], { text: 'x'.repeat(161) }));
    expect(failure(outcomes[0])).toEqual({ status: 'REJECTED', errorCode: 'MIMSMS_MESSAGE_TOO_LONG', permanent: true });
  });

  it('refuses a missing sender ID permanently (1005)', async () => {
    const outcomes = await adapterFor(sim).send(batchOf(['+8801712345671'], { senderId: '' }));
    expect(failure(outcomes[0])).toEqual({ status: 'REJECTED', errorCode: 'MIMSMS_INVALID_SENDER_ID', permanent: true });
  });

  it('polls delivered, failed and expired messages to their end, leaving out what MiM does not know', async () => {
    const adapter = adapterFor(sim);
    const recipients = ['+8801712345671', '+8801712345678', '+8801712345679'];
    const batch = batchOf(recipients);
    const outcomes = await adapter.send(batch);
    const sentAt = new Date();
    const queries = statusQueriesFor(batch, outcomes, sentAt);
    queries.push({ deliveryId: 'unknown', providerMessageId: 'mim_0', recipient: '+8801712345671', sentAt });

    const reports = await eventually(async () => {
      const found = await adapter.fetchStatus(queries);
      return found.length === 3 && found;
    }, 'three final statuses');
    const byId = Object.fromEntries(reports.map((r) => [r.deliveryId, r]));
    expect(byId[queries[0]!.deliveryId]).toMatchObject({ status: 'DELIVERED', errorCode: null });
    expect(Math.abs(byId[queries[0]!.deliveryId]!.at!.getTime() - Date.now())).toBeLessThan(10_000);
    expect(byId[queries[1]!.deliveryId]).toMatchObject({ status: 'FAILED', errorCode: 'MIMSMS_FAILED', errorMessage: 'Handset unreachable' });
    expect(byId[queries[2]!.deliveryId]).toMatchObject({ status: 'FAILED', errorCode: 'MIMSMS_FAILED', errorMessage: 'Message expired before delivery' });
    expect(byId.unknown).toBeUndefined();
  });

  it('leaves out messages that are not final yet', async () => {
    const slowSim = await startSimulator({ reportDelayMs: 60_000 });
    try {
      const adapter = adapterFor(slowSim);
      const [outcome] = await adapter.send(batchOf(['+8801712345671']));
      const query = { deliveryId: outcome!.deliveryId, providerMessageId: (outcome as { providerMessageId: string }).providerMessageId, recipient: '+8801712345671', sentAt: new Date() };
      expect(await adapter.fetchStatus([query])).toEqual([]);
      expect((await post(slowSim, '/status', { message_id: query.providerMessageId })).body.status).toBe('sent');
    } finally {
      await slowSim.stop();
    }
  });

  it('throws from fetchStatus only when no status request could be made', async () => {
    const adapter = adapterFor(sim);
    const [outcome] = await adapter.send(batchOf(['+8801712345671']));
    const query = { deliveryId: outcome!.deliveryId, providerMessageId: (outcome as { providerMessageId: string }).providerMessageId, recipient: '+8801712345671', sentAt: new Date() };
    sim.injectFault({ kind: 'http500', times: 1, path: '/status' });
    await expect(adapter.fetchStatus([query])).rejects.toThrow(/PROVIDER_ERROR/);
    sim.injectFault({ kind: 'http500', times: 1, path: '/status' });
    await expect(adapter.fetchStatus([query, { ...query, deliveryId: 'other' }])).resolves.toBeInstanceOf(Array);
  });
});

describe('mimsms simulator', () => {
  it('takes the documented number formats and answers 1004 for others', async () => {
    const sim = await startSimulator();
    try {
      const send = (phone: string) => post(sim, '/send-sms', { sender_id: 'ACME', phone, message: 'hi', priority: 'normal' });
      for (const phone of ['8801712345671', '01712345671', '+8801712345671']) {
        expect((await send(phone)).body, phone).toMatchObject({ status: 'success', message_id: expect.stringMatching(/^mim_\d+$/), error: null });
      }
      for (const phone of ['880171234567', '88017123456711', '0171234567', '8801212345671', '255712345671', '+255712345671', '']) {
        expect((await send(phone)).body, phone).toEqual({
          status: 'error',
          error_code: '1004',
          error_message: 'Invalid phone number',
          message_id: null,
          cost: 0,
        });
      }
    } finally {
      await sim.stop();
    }
  });

  it('refuses the wrong API key with 1001 on every endpoint', async () => {
    const sim = await startSimulator();
    try {
      for (const path of ['/send-sms', '/status', '/balance']) {
        expect((await post(sim, path, { api_key: 'wrong' })).body, path).toMatchObject({ status: 'error', error_code: '1001' });
      }
    } finally {
      await sim.stop();
    }
  });

  it('answers 1003 once the balance is spent', async () => {
    const sim = await startSimulator({ balance: 0.5 });
    try {
      const adapter = adapterFor(sim);
      expect(await adapter.send(batchOf(['+8801712345671']))).toMatchObject([{ outcome: 'accepted' }]);
      expect(await adapter.fetchBalance()).toEqual({ amount: '0', currency: 'BDT' });
      const outcomes = await adapter.send(batchOf(['+8801712345671']));
      expect(failure(outcomes[0])).toEqual({ status: 'FAILED', errorCode: 'MIMSMS_INSUFFICIENT_BALANCE', permanent: true });
    } finally {
      await sim.stop();
    }
  });

  it('holds a message with a schedule_time ahead as accepted, and checks its format', async () => {
    const sim = await startSimulator();
    try {
      const fields = { sender_id: 'ACME', phone: '8801712345671', message: 'later' };
      const scheduled = await post(sim, '/send-sms', { ...fields, schedule_time: formatMimTime(new Date(Date.now() + 3600_000)) });
      expect(scheduled.body.status).toBe('success');
      expect((await post(sim, '/status', { message_id: scheduled.body.message_id })).body).toMatchObject({ status: 'accepted', delivery_time: null });
      const malformed = await post(sim, '/send-sms', { ...fields, schedule_time: '2025-01-20T10:00:00Z' });
      expect(malformed.body).toMatchObject({ status: 'error', error_code: null });
    } finally {
      await sim.stop();
    }
  });

  it('allows 100 requests a minute, with X-RateLimit headers, then answers 429 with 1007', async () => {
    const sim = await startSimulator();
    try {
      let last: Awaited<ReturnType<typeof post>> | undefined;
      for (let i = 0; i < 100; i += 1) last = await post(sim, '/balance', {});
      expect(last!.status).toBe(200);
      expect(last!.headers.get('x-ratelimit-limit')).toBe('100');
      expect(last!.headers.get('x-ratelimit-remaining')).toBe('0');
      const reset = Number(last!.headers.get('x-ratelimit-reset'));
      expect(reset * 1000).toBeGreaterThan(Date.now());
      expect(reset * 1000).toBeLessThanOrEqual(Date.now() + 61_000);

      const refused = await post(sim, '/balance', {});
      expect(refused.status).toBe(429);
      expect(refused.body).toMatchObject({ status: 'error', error_code: '1007', error_message: 'Rate limit exceeded' });

      // The adapter waits until the reset, and does not try the rest of its batch meanwhile.
      const before = sim.requests().length;
      const outcomes = await adapterFor(sim).send(batchOf(['+8801712345671', '+8801712345672']));
      expect(outcomes.map(failure)).toEqual([
        { status: 'FAILED', errorCode: 'MIMSMS_RATE_LIMITED', permanent: false },
        { status: 'FAILED', errorCode: 'MIMSMS_RATE_LIMITED', permanent: false },
      ]);
      const wait = (outcomes[0] as { retryAfterMs?: number }).retryAfterMs;
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(61_000);
      expect(sim.requests().length - before).toBe(1);
    } finally {
      await sim.stop();
    }
  });

  it('has no limits with rateLimits: false', async () => {
    const sim = await startSimulator({ rateLimits: false });
    try {
      let last: Awaited<ReturnType<typeof post>> | undefined;
      for (let i = 0; i < 101; i += 1) last = await post(sim, '/balance', {});
      expect(last!.status).toBe(200);
      expect(last!.headers.get('x-ratelimit-limit')).toBeNull();
    } finally {
      await sim.stop();
    }
  });
});

describe('mimsms adapter reading answers the simulator does not give', () => {
  const sim = new SimulatorServer('mimsms-variants');
  let next: SimResponse = { status: 200, body: {} };
  for (const path of ['/send-sms', '/status', '/balance']) sim.route('POST', path, () => next);
  beforeAll(() => sim.start());
  afterAll(() => sim.stop());

  it('reads an error code under any HTTP status', async () => {
    next = { status: 401, body: { status: 'error', error_code: '1002', error_message: 'Invalid username/password', message_id: null, cost: 0 } };
    const outcomes = await adapterFor(sim).send(batchOf(['+8801712345671']));
    expect(failure(outcomes[0])).toEqual({ status: 'FAILED', errorCode: 'MIMSMS_INVALID_CREDENTIALS', permanent: true });
  });

  it('reads a refusal given as a status word without a code', async () => {
    next = { status: 200, body: { status: 'invalid_phone', message_id: null, cost: 0, error: 'Invalid phone number' } };
    const outcomes = await adapterFor(sim).send(batchOf(['+8801712345671']));
    expect(failure(outcomes[0])).toEqual({ status: 'REJECTED', errorCode: 'MIMSMS_INVALID_PHONE', permanent: true });
  });

  it('waits until X-RateLimit-Reset when a 429 has no Retry-After', async () => {
    const reset = Math.ceil(Date.now() / 1000) + 30;
    next = { status: 429, body: { error: 'Too Many Requests' }, headers: { 'X-RateLimit-Reset': String(reset) } };
    const [outcome] = await adapterFor(sim).send(batchOf(['+8801712345671']));
    expect(failure(outcome)).toEqual({ status: 'FAILED', errorCode: 'PROVIDER_RATE_LIMITED', permanent: false });
    const wait = (outcome as { retryAfterMs?: number }).retryAfterMs!;
    expect(wait).toBeGreaterThan(25_000);
    expect(wait).toBeLessThanOrEqual(31_000);
  });

  it('retries an unknown error code and logs its raw value, never the credentials', async () => {
    const { logger, lines } = capturingLogger();
    next = { status: 200, body: { status: 'error', error_code: '1099', error_message: 'Something new', message_id: null, cost: 0 } };
    const [outcome] = await adapterFor(sim, {}, logger).send(batchOf(['+8801712345671']));
    expect(failure(outcome)).toEqual({ status: 'FAILED', errorCode: 'MIMSMS_UNKNOWN', permanent: false });
    expect(outcome).toMatchObject({ errorMessage: 'Something new' });
    const warnings = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.level === 40);
    expect(warnings).toEqual([expect.objectContaining({ errorCode: '1099' })]);
    for (const line of lines) {
      expect(line).not.toContain(config.password);
      expect(line).not.toContain(config.apiKey);
    }
  });

  it('treats an acceptance without message_id as a bad response, worth a retry', async () => {
    next = { status: 200, body: { status: 'success', message_id: null, cost: 0.5, balance: 10, error: null } };
    const [outcome] = await adapterFor(sim).send(batchOf(['+8801712345671']));
    expect(failure(outcome)).toEqual({ status: 'FAILED', errorCode: 'PROVIDER_BAD_RESPONSE', permanent: false });
  });

  it('takes the balance exactly as written', async () => {
    next = { status: 200, body: '{"status": "success", "balance": 100.50, "currency": "BDT", "error": null}' };
    expect(await adapterFor(sim).fetchBalance()).toEqual({ amount: '100.50', currency: 'BDT' });
  });

  it('reads delivery_time as Bangladesh time', async () => {
    next = { status: 200, body: { status: 'delivered', message_id: 'mim_1234567890', delivery_time: '2025-01-20 10:05:30', error: null } };
    const reports = await adapterFor(sim).fetchStatus([
      { deliveryId: 'd1', providerMessageId: 'mim_1234567890', recipient: '+8801712345678', sentAt: new Date() },
    ]);
    expect(reports).toMatchObject([{ deliveryId: 'd1', status: 'DELIVERED', at: new Date('2025-01-20T04:05:30Z') }]);
  });
});

describe('mimsms through the gateway', () => {
  let sim: SimulatorServer;
  let gateway: TestGateway;
  beforeAll(async () => {
    sim = await startSimulator();
    gateway = await startGateway({ ...mimsms.environment(config, sim.url), REPORT_POLL_AFTER_MS: '150' });
  });
  afterAll(async () => {
    await gateway.stop();
    await sim.stop();
  });

  it('ends REJECTED with the code for a number MiM refuses, refuses one outside Bangladesh before sending, calling MiM once', async () => {
    const { apiKey, accountId } = await gateway.account();
    const updates = new Collector(wsClient(gateway.wsUrl, apiKey), DeliveryUpdated);
    await gateway.subscribersLive(accountId);
    const recipients = ['+8801712345677', '+255712345671'];
    const sent = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'Refused', recipients, provider: 'mimsms' } });
    expect(sent.sendSms.rejectedRecipients).toEqual([expect.objectContaining({ input: '+255712345671', code: 'NO_ROUTE' })]);
    const isFinal = (u: (typeof updates.items)[number]) => u.deliveryUpdated.delivery.status === 'REJECTED';
    await updates.until((items) => items.filter(isFinal).length === 1, 'the rejection');
    updates.dispose();

    const codes = Object.fromEntries(updates.items.filter(isFinal).map((u) => [u.deliveryUpdated.delivery.recipient, u.deliveryUpdated.delivery.errorCode]));
    expect(codes).toEqual({ '+8801712345677': 'MIMSMS_REJECTED' });
    expect(sim.requests('/send-sms').map((r) => (r.body as { phone: string }).phone)).toEqual(['8801712345677']);
  });
});
