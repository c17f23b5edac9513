import { once, EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMtnCongoProvider } from '../../src/providers/mtn_congo/adapter.ts';
import { mtnCongo } from '../../src/providers/mtn_congo/index.ts';
import { createMtnCongoSimulator, type MtnCongoSimulator } from '../../src/providers/mtn_congo/simulator.ts';
import { SimulatorServer } from '../../src/providers/simulator/server.ts';
import { MalformedCallbackError, type OutboundSms, type SmsProvider, type SubmitBatch, type SubmitOutcome } from '../../src/providers/types.ts';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { DeliveryUpdated, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { eventually } from '../support/process.ts';
import { statusQueriesFor } from './harness.ts';

const config = mtnCongo.simulatorConfig;
const TEMPLATE = 'Hello {{last}} {{first}}, word bulk.';

/** An HTTP endpoint playing the gateway's callback route: keeps every body it is sent. */
class CallbackInbox extends EventEmitter {
  readonly bodies: unknown[] = [];
  private readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      this.bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      res.writeHead(200).end('{}');
      this.emit('body');
    });
  });
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/callbacks/mtn_congo?token=secret`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  async until(count: number): Promise<unknown[]> {
    while (this.bodies.length < count) await once(this, 'body');
    return this.bodies;
  }
}

let counter = 0;
function item(recipient: string, text: string, variables?: Record<string, string>): OutboundSms {
  counter += 1;
  return {
    deliveryId: `0193a4f2-1111-7000-8000-${String(counter).padStart(12, '0')}`,
    messageId: '0193a4f2-1111-7000-8000-ffffffffffff',
    recipient,
    text,
    ...(variables ? { template: { text: TEMPLATE, variables } } : {}),
  };
}

function personalised(recipient: string, last: string, first: string): OutboundSms {
  return item(recipient, `Hello ${last} ${first}, word bulk.`, { last, first });
}

const accepted = (outcomes: SubmitOutcome[]) => outcomes.map((o) => o.outcome);
const bodiesOf = (requests: Array<{ body: unknown }>) => requests.map((r) => r.body as Record<string, unknown>);

describe('mtn_congo', () => {
  let sim: MtnCongoSimulator;
  let inbox: CallbackInbox;
  let adapter: SmsProvider;
  const logs: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void logs.push(line) });

  beforeAll(async () => {
    sim = createMtnCongoSimulator(config, { reportDelayMs: 20 });
    inbox = new CallbackInbox();
    await Promise.all([sim.start(), inbox.start()]);
    adapter = createMtnCongoProvider({ ...config, baseUrl: sim.url }, { logger, timeoutMs: 2000 });
  });
  afterAll(() => Promise.all([sim.stop(), inbox.stop()]));
  afterEach(() => expect(logs.join('\n')).not.toContain(config.token));

  /** Sends `batch` and returns the requests the simulator received for it. */
  async function sendAndRecord(batch: SubmitBatch, provider = adapter) {
    const before = sim.requests().length;
    const outcomes = await provider.send(batch);
    return { outcomes, requests: sim.requests().slice(before) };
  }

  describe('personalisation', () => {
    it('sends a templated batch as one request with :P1 :P2 and params lines in the document format', async () => {
      const batch: SubmitBatch = {
        senderId: 'BES',
        callbackUrl: inbox.url,
        items: [personalised('+242064504545', 'ASSEH', 'Brel'), personalised('+242057360000', 'MOTOKOUA', 'Hegel')],
      };
      const { outcomes, requests } = await sendAndRecord(batch);
      expect(accepted(outcomes)).toEqual(['accepted', 'accepted']);
      expect(requests).toHaveLength(1);
      const body = requests[0]!.body as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual(['callback_url', 'externalId', 'msg', 'params', 'sender']);
      expect(body).toMatchObject({
        msg: 'Hello :P1 :P2, word bulk.',
        params: 'ASSEH;Brel;;242064504545\r\nMOTOKOUA;Hegel;;242057360000',
        sender: 'BES',
        callback_url: inbox.url,
      });

      const id = outcomes[0]!.outcome === 'accepted' ? outcomes[0]!.providerMessageId : '';
      expect(sim.sms.filter((sms) => String(sms.id) === id).map((sms) => [sms.receiver, sms.text])).toEqual([
        ['242064504545', 'Hello ASSEH Brel, word bulk.'],
        ['242057360000', 'Hello MOTOKOUA Hegel, word bulk.'],
      ]);

      // Each receiver is reported on its own, in a body the adapter reads back to our deliveries.
      const before = inbox.bodies.length;
      const bodies = (await inbox.until(before + 2)).slice(before);
      const reports = bodies.flatMap((b) => adapter.parseCallback!({ body: b, headers: {}, query: {} }));
      expect(reports.map((r) => [r.match.providerMessageId, r.match.recipient, r.status]).sort()).toEqual([
        [id, '242057360000', 'DELIVERED'],
        [id, '242064504545', 'DELIVERED'],
      ]);
    });

    it('numbers placeholders in order of first appearance, repeats included', async () => {
      const template = '{{first}}, {{last}} - {{first}}!';
      const batch: SubmitBatch = {
        senderId: 'BES',
        items: [{ ...item('+242068463491', 'Brel, ASSEH - Brel!'), template: { text: template, variables: { last: 'ASSEH', first: 'Brel' } } }],
      };
      const { requests } = await sendAndRecord(batch);
      expect(bodiesOf(requests)).toMatchObject([{ msg: ':P1, :P2 - :P1!', params: 'Brel;ASSEH;;242068463491' }]);
      expect(sim.sms.at(-1)!.text).toBe('Brel, ASSEH - Brel!');
    });

    it('renders what params cannot carry, and sends plain items per text', async () => {
      const batch: SubmitBatch = {
        senderId: 'BES',
        items: [
          personalised('+242068463491', 'ASSEH', 'Brel'),
          personalised('+242068463492', 'A;B', 'C'),
          item('+242068463493', 'Plain text'),
          item('+242068463494', 'Plain text'),
        ],
      };
      const { outcomes, requests } = await sendAndRecord(batch);
      expect(accepted(outcomes)).toEqual(['accepted', 'accepted', 'accepted', 'accepted']);
      expect(bodiesOf(requests).map(({ msg, params, receivers }) => ({ msg, params, receivers }))).toEqual([
        { msg: 'Hello :P1 :P2, word bulk.', params: 'ASSEH;Brel;;242068463491', receivers: undefined },
        { msg: 'Hello A;B C, word bulk.', params: undefined, receivers: '242068463492' },
        { msg: 'Plain text', params: undefined, receivers: '242068463493,242068463494' },
      ]);
    });

    it('reports every receiver of a personalised request when asked, rejected ones included', async () => {
      const batch: SubmitBatch = {
        senderId: 'BES',
        items: [personalised('+242068463491', 'ASSEH', 'Brel'), personalised('+242068463497', 'MOTOKOUA', 'Hegel')],
      };
      const outcomes = await adapter.send(batch);
      const queries = statusQueriesFor(batch, outcomes);
      const reports = await eventually(async () => {
        const found = await adapter.fetchStatus(queries);
        return found.length === 2 && found;
      }, 'two final statuses');
      expect(Object.fromEntries(reports.map((r) => [r.deliveryId, [r.status, r.errorCode]]))).toEqual({
        [queries[0]!.deliveryId]: ['DELIVERED', null],
        [queries[1]!.deliveryId]: ['REJECTED', 'MTN_CONGO_REJECTED'],
      });
    });
  });

  describe('submissions', () => {
    it('never puts a number twice in one request', async () => {
      const batch: SubmitBatch = {
        senderId: 'BES',
        items: [item('+242068463491', 'Same'), item('+242068463491', 'Same'), item('+242068463492', 'Same')],
      };
      const { outcomes, requests } = await sendAndRecord(batch);
      expect(accepted(outcomes)).toEqual(['accepted', 'accepted', 'accepted']);
      expect(bodiesOf(requests).map((b) => b.receivers)).toEqual(['242068463491,242068463492', '242068463491']);
    });

    it('makes a retry recognisable: same deliveries, same externalId, same MTN id, nothing sent twice', async () => {
      const batch: SubmitBatch = { reference: '0193a4f2-2222-7000-8000-000000000001', senderId: 'BES', items: [item('+242068463491', 'Once'), item('+242068463492', 'Once')] };
      const first = await sendAndRecord(batch);
      const smsBefore = sim.sms.length;
      const retry = await sendAndRecord(batch);
      expect(sim.sms.length).toBe(smsBefore);
      expect(bodiesOf(retry.requests)[0]!.externalId).toBe(bodiesOf(first.requests)[0]!.externalId);
      expect(retry.outcomes).toEqual(first.outcomes);

      // Part of that submission is not the whole of it.
      const part = await sendAndRecord({ ...batch, items: batch.items.slice(1) });
      expect(bodiesOf(part.requests)[0]!.externalId).not.toBe(bodiesOf(first.requests)[0]!.externalId);
      expect(sim.sms.length).toBe(smsBefore + 1);
    });

    it('rejects the numbers MTN refuses and retries the others of the request without them', async () => {
      const batch: SubmitBatch = { senderId: 'BES', items: [item('+12', 'Bad number'), item('+242068463491', 'Bad number')] };
      const outcomes = await adapter.send(batch);
      expect(outcomes).toMatchObject([
        { outcome: 'failed', status: 'REJECTED', permanent: true, errorCode: 'MTN_CONGO_INVALID_RECEIVERS' },
        { outcome: 'failed', status: 'FAILED', permanent: false, errorCode: 'MTN_CONGO_REFUSED_WITH_OTHERS' },
      ]);
    });

    it('takes the document\'s "base URL" (…/api/sms/) as well as an origin', async () => {
      const viaDocumentUrl = createMtnCongoProvider({ ...config, baseUrl: `${sim.url}/api/sms/` }, { logger, timeoutMs: 2000 });
      const { requests } = await sendAndRecord({ senderId: 'BES', items: [item('+242068463491', 'Base URL')] }, viaDocumentUrl);
      expect(requests.map((r) => [r.path, r.headers.authorization])).toEqual([['/api/sms/', `Token ${config.token}`]]);
    });

    it('reads refusals in shapes it does not know: 401 as a wrong token, others as retryable', async () => {
      const other = new SimulatorServer('other-shapes').route('POST', '/api/sms/', (request) =>
        (request.body as { sender?: string }).sender === 'DRF'
          ? { status: 401, body: { detail: 'Invalid token.' } }
          : { status: 400, body: { receivers: ['This field is required.'] } },
      );
      await other.start();
      try {
        const provider = createMtnCongoProvider({ ...config, baseUrl: other.url }, { logger, timeoutMs: 2000 });
        const send = (senderId: string) => provider.send({ senderId, items: [item('+242068463491', 'Shapes')] });
        expect(await send('DRF')).toMatchObject([{ errorCode: 'MTN_CONGO_INVALID_TOKEN', permanent: true }]);
        expect(await send('BES')).toMatchObject([{ errorCode: 'MTN_CONGO_UNKNOWN', permanent: false }]);
        expect(logs.some((line) => line.includes('This field is required.'))).toBe(true);
      } finally {
        await other.stop();
      }
    });

    it('says plainly that MTN Congo has no balance endpoint', async () => {
      await expect(adapter.fetchBalance()).rejects.toThrow(/no balance endpoint/);
    });
  });

  describe('callbacks', () => {
    const parse = (body: unknown) => adapter.parseCallback!({ body, headers: {}, query: {} });

    it('reads a status answer for one receiver', () => {
      const body = {
        status: 'ok',
        id: 26,
        externalId: 'x',
        receivers: [{ receiver: '242068463498', status: 'echec', date: '2021-07-22T07:18:08.831717', motif: 'Abonné injoignable' }],
      };
      expect(parse(body)).toEqual([
        {
          match: { providerMessageId: '26', recipient: '242068463498' },
          status: 'FAILED',
          errorCode: 'MTN_CONGO_UNDELIVERED',
          errorMessage: 'Abonné injoignable',
          at: new Date('2021-07-22T06:18:08.831Z'),
          raw: body,
        },
      ]);
    });

    it('refuses other shapes', () => {
      for (const body of [undefined, 'text', {}, { id: 26 }, { id: 26, receivers: [] }, { id: 26, receivers: [{ receiver: '242068463491' }] }]) {
        expect(() => parse(body), JSON.stringify(body)).toThrow(MalformedCallbackError);
      }
    });

    it('leaves an unknown status SENT and logs the word', () => {
      const reports = parse({ id: 27, receivers: [{ receiver: '242068463491', status: 'en_cours_de_routage' }] });
      expect(reports).toMatchObject([{ status: 'SENT', errorCode: null }]);
      expect(logs.some((line) => line.includes('en_cours_de_routage'))).toBe(true);
    });
  });

  describe('simulator', () => {
    async function post(body: unknown, authorization = `Token ${config.token}`) {
      const response = await fetch(`${sim.url}/api/sms/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', authorization },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    }
    const valid = { msg: 'Hello', receivers: '242068463491', sender: 'BES' };

    it('accepts both Authorization forms of the document and refuses others', async () => {
      expect((await post(valid, `Token-${config.token}`)).status).toBe(200);
      expect(await post(valid, `Bearer ${config.token}`)).toMatchObject({ status: 401, body: { code: 'AUTHENTICATION_REQUIRED' } });
      expect(await post(valid, 'Token wrong')).toMatchObject({ status: 401, body: { code: 'INVALID_TOKEN' } });
    });

    it.each([
      [{ ...valid, msg: '' }, 'MISSING_MSG'],
      [{ ...valid, sender: undefined }, 'MISSING_SENDER'],
      [{ ...valid, receivers: '' }, 'MISSING_RECEIVERS'],
      [{ ...valid, receivers: '+242068463491' }, 'INVALID_RECEIVERS'],
      [{ msg: 'Hi :P1 :P2', sender: 'BES', params: 'A;;242068463491' }, 'INVALID_PARAMS'],
      [{ ...valid, date_envois: 'demain' }, 'INVALID_DATE'],
      [{ ...valid, callback_url: 'ftp://x' }, 'INVALID_CALLBACK_URL'],
      [{ op: 'solde' }, 'UNKNOWN_OP'],
      [{ op: 'status' }, 'MISSING_ID'],
      [{ op: 'status', id: '999999' }, 'NOT_FOUND'],
    ])('refuses %j with %s', async (body, code) => {
      const answer = await post(body);
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(answer.body).toMatchObject({ status: 'error', code });
    });

    it('takes the e-mail fields as optional, and answers with the id the status check takes', async () => {
      const sent = await post({ ...valid, msg_mail: 'Hello', objet_mail: 'test', email: 'a@b.cg', isemail: '1', externalId: 10 });
      expect(sent).toMatchObject({ status: 200, body: { status: 'ok', externalId: 10, nb_receivers: 1 } });
      const status = await post({ op: 'status', id: String(sent.body.id) });
      expect(status).toMatchObject({ status: 200, body: { id: sent.body.id, receivers: [{ receiver: '242068463491' }] } });
    });
  });
});

describe('mtn_congo personalisation through the gateway', () => {
  let sim: MtnCongoSimulator;
  let gateway: TestGateway;

  beforeAll(async () => {
    sim = createMtnCongoSimulator(config, { reportDelayMs: 50 });
    await sim.start();
    gateway = await startGateway(mtnCongo.environment(config, sim.url));
  });
  afterAll(async () => {
    await gateway.stop();
    await sim.stop();
  });

  it('sends a personalised message in one request and ends each delivery by its callback', async () => {
    const { apiKey, accountId } = await gateway.account();
    const updates = new Collector(wsClient(gateway.wsUrl, apiKey), DeliveryUpdated);
    await gateway.subscribersLive(accountId);
    const personalized = [
      { to: '+242064504545', variables: { last: 'ASSEH', first: 'Brel' } },
      { to: '+242057360000', variables: { last: 'MOTOKOUA', first: 'Hegel' } },
    ];
    await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: TEMPLATE, personalized, provider: 'mtn_congo' } });
    await updates.until((items) => items.filter((u) => u.deliveryUpdated.delivery.status === 'DELIVERED').length === 2, 'two deliveries');
    updates.dispose();

    const requests = bodiesOf(sim.requests('/api/sms/'));
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ msg: 'Hello :P1 :P2, word bulk.' });
    expect((requests[0]!.params as string).split('\r\n').sort()).toEqual(['ASSEH;Brel;;242064504545', 'MOTOKOUA;Hegel;;242057360000']);
    expect(sim.sms.map((sms) => sms.text).sort()).toEqual(['Hello ASSEH Brel, word bulk.', 'Hello MOTOKOUA Hegel, word bulk.']);
    expect((await sim.callbacksAnswered(2)).map((c) => c.status)).toEqual([200, 200]);
  });
});
