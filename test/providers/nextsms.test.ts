import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { basicAuthorization, createNextsmsProvider, type NextsmsConfig } from '../../src/providers/nextsms/adapter.ts';
import { nextsms } from '../../src/providers/nextsms/index.ts';
import { createNextsmsSimulator, type NextsmsSimulatorOptions } from '../../src/providers/nextsms/simulator.ts';
import { SimulatorServer, type SimResponse } from '../../src/providers/simulator/server.ts';
import type { OutboundSms, SubmitBatch, SubmitOutcome } from '../../src/providers/types.ts';
import { eventually } from '../support/process.ts';
import { gqlData } from '../support/client.ts';
import { MessageById, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { nextsmsStatusObject } from '../../src/providers/nextsms/status-map.ts';
import { capturingLogger, statusQueriesFor } from './harness.ts';

// Behaviour of NextSMS the shared contract suite does not cover (provider-docs/003 and 004).

const config: NextsmsConfig = nextsms.simulatorConfig;
const silent = createLogger('silent');
let batchCounter = 0;

/** A batch of fresh deliveries; `texts` gives each recipient its own text (personalised). */
function batchOf(recipients: string[], options: { texts?: string[]; reference?: string } = {}): SubmitBatch {
  batchCounter += 1;
  return {
    ...(options.reference ? { reference: options.reference } : {}),
    senderId: 'ACME',
    items: recipients.map(
      (recipient, i): OutboundSms => ({
        deliveryId: `0193a4f2-${String(batchCounter).padStart(4, '0')}-7000-8000-${String(i).padStart(12, '0')}`,
        messageId: '0193a4f2-0000-7000-8000-ffffffffffff',
        recipient,
        text: options.texts?.[i] ?? 'Hello from the NextSMS tests',
      }),
    ),
  };
}

function failure(outcome: SubmitOutcome | undefined) {
  if (outcome?.outcome !== 'failed') return { outcome: outcome?.outcome };
  return { status: outcome.status, errorCode: outcome.errorCode, permanent: outcome.permanent };
}

function adapterFor(sim: SimulatorServer, logger = silent) {
  return createNextsmsProvider({ ...config, baseUrl: sim.url }, { logger, timeoutMs: 2000 });
}

async function startSimulator(options: NextsmsSimulatorOptions = {}) {
  const sim = createNextsmsSimulator(config, { reportDelayMs: 50, ...options });
  await sim.start();
  return sim;
}

/** A request straight to the simulator, the way a NextSMS client would make it. */
async function call(sim: SimulatorServer, method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${sim.url}${path}`, {
    method,
    headers: { authorization: basicAuthorization(config), accept: 'application/json', 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, any> };
}

const logsOf = async (sim: SimulatorServer, reference: string) =>
  (await call(sim, 'GET', `/api/sms/v1/logs?reference=${reference}`)).body.results as Array<Record<string, any>>;
const balanceOf = async (sim: SimulatorServer) => (await call(sim, 'GET', '/api/sms/v1/balance')).body.sms_balance as number;

describe('nextsms adapter against its simulator', () => {
  let sim: SimulatorServer;
  beforeAll(async () => {
    sim = await startSimulator();
  });
  afterAll(() => sim.stop());

  it('sends a batch with different texts as one text/multi request, in the documented shape', async () => {
    const before = sim.requests().length;
    const batch = batchOf(['+255712345671', '+255712345672', '+255712345673', '+255712345674'], {
      reference: 'multi-ref-1',
      texts: ['Hello Asha', 'Hello Juma', 'Hello everyone', 'Hello everyone'],
    });
    const outcomes = await adapterFor(sim).send(batch);
    expect(outcomes).toEqual(
      batch.items.map((item) => expect.objectContaining({ deliveryId: item.deliveryId, outcome: 'accepted', providerMessageId: 'multi-ref-1' })),
    );
    const sent = sim.requests().slice(before);
    expect(sent).toHaveLength(1);
    // 004, "Multiple messages to Multiple destinations" (Examples 1 and 2).
    expect(sent[0]).toMatchObject({ method: 'POST', path: '/api/sms/v1/text/multi' });
    expect(sent[0]!.headers).toMatchObject({ authorization: basicAuthorization(config), 'content-type': 'application/json', accept: 'application/json' });
    expect(sent[0]!.body).toEqual({
      messages: [
        { from: 'ACME', to: '255712345671', text: 'Hello Asha' },
        { from: 'ACME', to: '255712345672', text: 'Hello Juma' },
        { from: 'ACME', to: ['255712345673', '255712345674'], text: 'Hello everyone' },
      ],
      reference: 'multi-ref-1',
    });
    expect(Object.keys(sent[0]!.body as object)).toEqual(['messages', 'reference']);
  });

  it('does not send a repeated reference twice, but does send a recipient new to it', async () => {
    const batch = batchOf(['+255712345671', '+255712345672'], { reference: 'retry-ref-1' });
    const balance = await balanceOf(sim);
    const first = await adapterFor(sim).send(batch);
    expect(await balanceOf(sim)).toBe(balance - 2);

    const again = await adapterFor(sim).send(batch);
    expect(again).toEqual(first);
    expect(await balanceOf(sim)).toBe(balance - 2);
    expect((await logsOf(sim, 'retry-ref-1')).map((entry) => entry.to).sort()).toEqual(['255712345671', '255712345672']);

    // A retry of part of a submission whose first try never arrived: the rest goes out.
    await adapterFor(sim).send({ ...batch, items: [...batch.items, { ...batch.items[0]!, deliveryId: 'f0000000-0000-7000-8000-000000000001', recipient: '+255712345676' }] });
    expect((await logsOf(sim, 'retry-ref-1')).map((entry) => entry.to).sort()).toEqual(['255712345671', '255712345672', '255712345676']);
    expect(await balanceOf(sim)).toBe(balance - 3);
  });

  it('gives the same deliveries the same reference when the dispatcher gives none', async () => {
    const batch = batchOf(['+255712345671']);
    const before = sim.requests('/api/sms/v1/text').length;
    const [first] = await adapterFor(sim).send(batch);
    const [again] = await adapterFor(sim).send(batch);
    expect(first).toMatchObject({ outcome: 'accepted' });
    expect(again).toEqual(first);
    const references = sim.requests('/api/sms/v1/text').slice(before).map((r) => (r.body as { reference: string }).reference);
    expect(references).toHaveLength(2);
    expect(references[0]).toBe(references[1]);
    expect(await logsOf(sim, references[0]!)).toHaveLength(1);
  });

  it('fails the recipients NextSMS rejects in its answer, with their code, and accepts the others', async () => {
    const outcomes = await adapterFor(sim).send(batchOf(['+255712345677', '+2557123', '+255712345671']));
    expect(failure(outcomes[0])).toEqual({ status: 'REJECTED', errorCode: 'NEXTSMS_REJECTED_DND', permanent: true });
    expect(failure(outcomes[1])).toEqual({ status: 'REJECTED', errorCode: 'NEXTSMS_REJECTED_INVALID_DESTINATION', permanent: true });
    expect(outcomes[2]).toMatchObject({ outcome: 'accepted' });
  });

  it('reads final statuses from the logs, by reference and recipient', async () => {
    const batch = batchOf(['+255712345671', '+255712345678', '+255712345679'], { reference: 'status-ref-1' });
    const outcomes = await adapterFor(sim).send(batch);
    const queries = statusQueriesFor(batch, outcomes);
    const before = sim.requests().length;
    const reports = await eventually(async () => {
      const found = await adapterFor(sim).fetchStatus(queries);
      return found.length === 3 && found;
    }, 'three final statuses');
    expect(Object.fromEntries(reports.map((r) => [r.deliveryId, [r.status, r.errorCode ?? null]]))).toEqual({
      [queries[0]!.deliveryId]: ['DELIVERED', null],
      [queries[1]!.deliveryId]: ['FAILED', 'NEXTSMS_UNDELIVERABLE'],
      [queries[2]!.deliveryId]: ['EXPIRED', 'NEXTSMS_EXPIRED'],
    });
    expect(reports[0]!.at).toBeInstanceOf(Date);
    const asked = sim.requests().slice(before)[0]!;
    expect(asked).toMatchObject({ method: 'GET', path: '/api/sms/v1/logs' });
    expect(asked.query).toMatchObject({ reference: 'status-ref-1', limit: '500', offset: '0' });
    expect(asked.query.sentSince).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    // Reading the logs consumed nothing: each report is still there, once, on /reports.
    expect((await call(sim, 'GET', '/api/sms/v1/reports?reference=status-ref-1')).body.results).toHaveLength(3);
  });

  it('reports nothing while the recipients are pending', async () => {
    const slow = await startSimulator({ reportDelayMs: 60_000 });
    try {
      const batch = batchOf(['+255712345671']);
      const outcomes = await adapterFor(slow).send(batch);
      expect(await adapterFor(slow).fetchStatus(statusQueriesFor(batch, outcomes))).toEqual([]);
      expect(slow.requests().at(-1)!.query).toMatchObject({ to: '255712345671' });
    } finally {
      await slow.stop();
    }
  });

  it('reads the balance as a count of SMS', async () => {
    expect(await adapterFor(sim).fetchBalance()).toEqual({ amount: String(await balanceOf(sim)), currency: 'SMS' });
  });
});

describe('nextsms simulator', () => {
  let sim: SimulatorServer;
  beforeAll(async () => {
    sim = await startSimulator();
  });
  afterAll(() => sim.stop());

  it('answers text/single as the documented example', async () => {
    const answer = await call(sim, 'POST', '/api/sms/v1/text/single', { from: 'N-SMS', to: '255716718040', text: 'Your message', reference: 'xaefcgt' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-ratelimit-limit')).toBeTruthy();
    expect(answer.body).toEqual({
      messages: [
        {
          to: '255716718040',
          status: { groupId: 1, groupName: 'PENDING', id: 7, name: 'PENDING_ENROUTE', description: 'Message sent to next instance' },
          smsCount: 1,
        },
      ],
    });
  });

  it('gives each final delivery report once, and keeps the logs', async () => {
    await call(sim, 'POST', '/api/sms/v1/text/single', { from: 'N-SMS', to: '255716718041', text: 'Once', reference: 'once-ref' });
    const reports = await eventually(async () => {
      const { body } = await call(sim, 'GET', '/api/sms/v1/reports?reference=once-ref');
      return body.results.length > 0 && body.results;
    }, 'a delivery report');
    expect(reports[0]).toMatchObject({ to: '255716718041', status: { id: 5, name: 'DELIVERED_TO_HANDSET' }, error: { id: 0, name: 'NO_ERROR' } });
    expect(reports[0].sentAt).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    expect((await call(sim, 'GET', '/api/sms/v1/reports?reference=once-ref')).body.results).toEqual([]);
    expect(await logsOf(sim, 'once-ref')).toHaveLength(1);
  });

  it('sends and charges nothing in test mode', async () => {
    const balance = await balanceOf(sim);
    const answer = await call(sim, 'POST', '/api/sms/v1/test/text/multi', {
      messages: [{ from: 'N-SMS', to: ['255716718040', '255655912841'], text: 'Test' }],
      reference: 'test-mode-ref',
    });
    expect(answer.body.messages.map((m: { to: string; status: { id: number } }) => [m.to, m.status.id])).toEqual([
      ['255716718040', 7],
      ['255655912841', 7],
    ]);
    expect(await balanceOf(sim)).toBe(balance);
    expect(await logsOf(sim, 'test-mode-ref')).toEqual([]);
  });

  it('refuses requests without credentials or without a JSON Content-Type', async () => {
    const wrong = await call(sim, 'GET', '/api/sms/v1/balance', undefined, { authorization: basicAuthorization({ username: 'x', password: 'y' }) });
    expect(wrong).toMatchObject({ status: 401, body: { success: false, status: 401, message: 'Invalid credentials.' } });
    const response = await fetch(`${sim.url}/api/sms/v1/text/single`, {
      method: 'POST',
      headers: { authorization: basicAuthorization(config) },
      body: JSON.stringify({ from: 'N-SMS', to: '255716718040', text: 'Hi' }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ message: 'General error' });
  });

  it('answers 68 MISSING_TO when no recipient is given', async () => {
    const answer = await call(sim, 'POST', '/api/sms/v1/text/single', { from: 'N-SMS', text: 'Nobody' });
    expect(answer.status).toBe(400);
    expect(answer.body.messages).toEqual([{ to: null, status: expect.objectContaining({ id: 68, name: 'MISSING_TO' }), smsCount: 0 }]);
  });

  it('accepts a scheduled send as PENDING_ACCEPTED', async () => {
    const answer = await call(sim, 'POST', '/api/sms/v1/text/single', { from: 'N-SMS', to: '255716718040', text: 'Later', date: '2099-10-01', time: '12:00' });
    expect(answer.body.messages[0].status).toMatchObject({ id: 26, name: 'PENDING_ACCEPTED' });
  });

  it('creates, recharges and deducts a sub-customer', async () => {
    const created = await call(sim, 'POST', '/api/reseller/v1/sub_customer/create', {
      first_name: 'Api',
      last_name: 'Customer',
      username: 'apicust',
      email: 'apicust@customer.com',
      phone_number: '0738234339',
      account_type: 'Sub Customer (Reseller)',
      sms_price: 20,
    });
    expect(created.body).toMatchObject({ success: true, result: { name: 'Api Customer', phone_number: '+255738234339', sms_price: '20.00 TSH' } });
    const balance = await balanceOf(sim);
    const recharged = await call(sim, 'POST', '/api/reseller/v1/sub_customer/recharge', { email: 'apicust@customer.com', smscount: 5000 });
    expect(recharged.body.result).toEqual({ Customer: 'apicust@customer.com', 'Sms transferred': 5000, 'Your sms balance': balance - 5000 });
    const deducted = await call(sim, 'POST', '/api/reseller/v1/sub_customer/deduct', { email: 'apicust@customer.com', smscount: 2000 });
    expect(deducted.body.result).toEqual({
      Customer: 'apicust@customer.com',
      'Sms deducted': 2000,
      'Your sms balance': balance - 3000,
      'Customer sms balance': 3000,
    });
  });
});

describe('nextsms adapter with answers the simulator does not give', () => {
  let server: SimulatorServer;
  let answer: SimResponse;
  beforeAll(async () => {
    server = new SimulatorServer('nextsms-odd');
    server.route('POST', '/api/sms/v1/text/single', () => answer);
    server.route('GET', '/api/sms/v1/logs', () => answer);
    await server.start();
  });
  afterAll(() => server.stop());

  it('maps an unknown status id by its group, and an unknown group as pending, logging both', async () => {
    const { logger, lines } = capturingLogger();
    answer = {
      status: 200,
      body: {
        messages: [
          { to: '255712345671', status: { groupId: 19, groupName: 'REJECTED', id: 99, name: 'REJECTED_NEW_RULE', description: 'A new rule' }, smsCount: 1 },
          { to: '255712345672', status: { groupId: 42, groupName: 'SOMETHING', id: 98, name: 'SOMETHING_ELSE', description: '?' }, smsCount: 1 },
        ],
      },
    };
    const outcomes = await adapterFor(server, logger).send(batchOf(['+255712345671', '+255712345672']));
    expect(failure(outcomes[0])).toEqual({ status: 'REJECTED', errorCode: 'NEXTSMS_REJECTED_NEW_RULE', permanent: true });
    expect(outcomes[1]).toMatchObject({ outcome: 'accepted' });
    const warnings = lines.map((line) => JSON.parse(line) as { level: number; status?: { id: number } }).filter((l) => l.level === 40);
    expect(warnings.map((w) => w.status?.id)).toEqual([99, 98]);
    expect(lines.join('\n')).not.toContain(config.password);
  });

  it('applies a request-wide answer (68 MISSING_TO) to every recipient', async () => {
    answer = { status: 400, body: { messages: [{ to: null, status: { groupId: 19, groupName: 'REJECTED', id: 68, name: 'MISSING_TO', description: '' }, smsCount: 0 }] } };
    const outcomes = await adapterFor(server).send(batchOf(['+255712345671', '+255712345672']));
    expect(outcomes.map(failure)).toEqual([1, 2].map(() => ({ status: 'REJECTED', errorCode: 'NEXTSMS_MISSING_TO', permanent: true })));
  });

  it('rejects a recipient the answer leaves out, and refuses a 4xx without statuses permanently', async () => {
    answer = { status: 200, body: { messages: [{ to: '255712345671', status: { groupId: 1, groupName: 'PENDING', id: 7, name: 'PENDING_ENROUTE', description: '' }, smsCount: 1 }] } };
    const outcomes = await adapterFor(server).send(batchOf(['+255712345671', '+255712345672']));
    expect(outcomes[0]).toMatchObject({ outcome: 'accepted' });
    expect(failure(outcomes[1])).toEqual({ status: 'REJECTED', errorCode: 'NEXTSMS_RECIPIENT_NOT_IN_ANSWER', permanent: true });

    answer = { status: 422, body: { success: false, status: 422, message: 'The text field is required.' } };
    const refused = await adapterFor(server).send(batchOf(['+255712345671']));
    expect(failure(refused[0])).toEqual({ status: 'FAILED', errorCode: 'NEXTSMS_BAD_REQUEST', permanent: true });
  });

  it('takes the log row of the number sent closest to the submission, never one of another reference, and a number\'s only row whatever its date', async () => {
    const status = (id: number, name: string) => ({ groupId: 0, groupName: '', id, name, description: '' });
    const sentAt = new Date('2026-01-01T07:00:30Z');
    answer = {
      status: 200,
      body: {
        results: [
          // Another submission to the same number a minute later: not ours.
          { messageId: '1', sentAt: '2026-01-01 10:01:30', doneAt: '2026-01-01 10:02:00', to: '255712345671', smsCount: 1, status: status(5, 'DELIVERED_TO_HANDSET'), error: null },
          { messageId: '2', sentAt: '2026-01-01 10:00:29', doneAt: '2026-01-01 10:01:00', to: '255712345671', smsCount: 1, status: status(76, 'UNDELIVERABLE'), error: null },
          { messageId: '3', sentAt: '2026-01-01 10:00:30', doneAt: '2026-01-01 10:02:00', to: '255712345672', reference: 'other', smsCount: 1, status: status(5, 'DELIVERED_TO_HANDSET'), error: null },
          // The only row of its number, asked for by our reference: ours, a day off or not.
          { messageId: '4', sentAt: '2025-12-31 10:00:30', doneAt: '2025-12-31 10:02:00', to: '255712345673', smsCount: 1, status: status(5, 'DELIVERED_TO_HANDSET'), error: null },
        ],
      },
    };
    const reports = await adapterFor(server).fetchStatus([
      { deliveryId: 'd1', providerMessageId: 'ref', recipient: '+255712345671', sentAt },
      { deliveryId: 'd2', providerMessageId: 'ref', recipient: '+255712345672', sentAt },
      { deliveryId: 'd3', providerMessageId: 'ref', recipient: '+255712345673', sentAt },
    ]);
    expect(reports).toEqual([
      expect.objectContaining({ deliveryId: 'd1', status: 'FAILED', errorCode: 'NEXTSMS_UNDELIVERABLE', at: new Date('2026-01-01T07:01:00Z') }),
      expect.objectContaining({ deliveryId: 'd3', status: 'DELIVERED' }),
    ]);
  });

  it('throws when the logs cannot be read', async () => {
    answer = { status: 200, body: { unexpected: true } };
    await expect(
      adapterFor(server).fetchStatus([{ deliveryId: 'd1', providerMessageId: 'ref', recipient: '+255712345671', sentAt: new Date() }]),
    ).rejects.toThrow(/NextSMS logs/);
  });
});

describe('an unknown NextSMS operator report (group 20) through the gateway', () => {
  let server: SimulatorServer;
  let gateway: TestGateway;
  const unknown = { groupId: 20, groupName: 'DELIVERY', id: 81, name: 'NEW_OPERATOR_STATE', description: 'A state 003 does not list' };
  const tanzanianNow = () => new Date(Date.now() + 3 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');

  beforeAll(async () => {
    server = new SimulatorServer('nextsms-unknown-report');
    server.route('POST', '/api/sms/v1/text/single', (request) => ({
      status: 200,
      body: { messages: [{ to: (request.body as { to: string }).to, status: nextsmsStatusObject(7), smsCount: 1 }] },
    }));
    server.route('GET', '/api/sms/v1/logs', (request) => ({
      status: 200,
      body: { results: [{ messageId: '1', sentAt: tanzanianNow(), doneAt: tanzanianNow(), to: request.query.to, from: 'X', text: 'x', smsCount: 1, status: unknown, error: null }] },
    }));
    await server.start();
    gateway = await startGateway({ ...nextsms.environment(config, server.url), ROUTES: JSON.stringify({ default: ['nextsms'] }), REPORT_POLL_AFTER_MS: '50', PROVIDER_BALANCE_CHECK_MS: '0' });
  });
  afterAll(async () => {
    await gateway.stop();
    await server.stop();
  });

  it('leaves the delivery as it was, and counts the status in /metrics', async () => {
    const { apiKey } = await gateway.account();
    const sent = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'Unknown report', recipients: ['+255712345671'] } });
    const counted = /sms_gateway_provider_unknown_statuses_total\{provider="nextsms"\} ([1-9]\d*)/;
    await eventually(async () => counted.test(await (await fetch(`${gateway.url}/metrics`)).text()), 'the unknown status counted');
    const message = (await gqlData(gateway.graphqlUrl, apiKey, MessageById, { id: sent.sendSms.message.id })).message!;
    expect(message.deliveries[0]).toMatchObject({ status: 'SENT', errorCode: null });
  });
});
