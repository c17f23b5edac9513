import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { accountState } from '../support/state.ts';

const OK = '+255712345671';
const SEND = 'mutation ($input: SendSmsInput!) { sendSms(input: $input) { message { id } } }';
const QUOTE = 'query ($input: SendSmsInput!) { smsQuote(input: $input) { cost } }';
const MESSAGE = 'query ($id: ID!) { message(id: $id) { id } }';
const REPORTS = 'query ($filter: DeliveryReportFilter, $first: Int, $after: String) { deliveryReports(filter: $filter, first: $first, after: $after) { totalCount } }';
const UUID = '0193a4f2-0000-7000-8000-000000000000';
const b64 = (text: string) => Buffer.from(text).toString('base64');
const send = (input: Record<string, unknown>) => ({ query: SEND, variables: { input: { message: 'hi', recipients: [OK], ...input } } });

/** [what, request body (or a raw string), the code it must get] */
const GRAPHQL_CASES: Array<[string, unknown, string]> = [
  ['an empty message', send({ message: '' }), 'MISSING_MESSAGE'],
  ['a message of spaces and invisible characters', send({ message: ' \u200b\u2060\n' }), 'MISSING_MESSAGE'],
  ['a message with a NUL character', send({ message: 'hi\u0000there' }), 'BAD_USER_INPUT'],
  ['a message with a lone surrogate', send({ message: 'hi \ud800' }), 'BAD_USER_INPUT'],
  ['a message of 5,001 characters', send({ message: 'a'.repeat(5001) }), 'MESSAGE_TOO_LONG'],
  ['a message of 11 segments', send({ message: 'a'.repeat(1531) }), 'MESSAGE_TOO_LONG'],
  ['a message that is a number', send({ message: 42 }), 'BAD_USER_INPUT'],
  ['no message field', { query: SEND, variables: { input: { recipients: [OK] } } }, 'BAD_USER_INPUT'],
  ['no recipients', send({ recipients: null }), 'MISSING_RECIPIENTS'],
  ['an empty recipient list', send({ recipients: [] }), 'MISSING_RECIPIENTS'],
  ['a number where a recipient string goes', send({ recipients: [255712345671] }), 'BAD_USER_INPUT'],
  ['only malformed numbers', send({ recipients: ['abc', '+1', '٠٧١٢٣٤٥٦٧٨', '++255712345671'] }), 'NO_VALID_RECIPIENTS'],
  ['a recipient with a NUL character', send({ recipients: ['\u0000255712345671'] }), 'BAD_USER_INPUT'],
  ['a 65-character recipient', send({ recipients: ['9'.repeat(65)] }), 'BAD_USER_INPUT'],
  ['10,001 recipients', send({ recipients: Array.from({ length: 10_001 }, () => OK) }), 'BAD_USER_INPUT'],
  ['variables that are a list', send({ recipients: null, personalized: [{ to: OK, variables: [1, 2] }] }), 'BAD_USER_INPUT'],
  ['nested variables', send({ recipients: null, personalized: [{ to: OK, variables: { a: { b: 1 } } }] }), 'BAD_USER_INPUT'],
  ['a personalised entry without `to`', send({ recipients: null, personalized: [{ variables: {} }] }), 'BAD_USER_INPUT'],
  ['an empty sender id', send({ senderId: '' }), 'INVALID_SENDER_ID'],
  ['a sender id carrying SQL', send({ senderId: "'; DROP TABLE accounts;--" }), 'INVALID_SENDER_ID'],
  ['a sender id in non-Latin letters', send({ senderId: 'Ünïcødé' }), 'INVALID_SENDER_ID'],
  ['a schedule time in the past', send({ scheduleTime: '2020-01-01T00:00:00Z' }), 'INVALID_SCHEDULE_TIME'],
  ['a schedule time 36 days ahead', send({ scheduleTime: new Date(Date.now() + 36 * 86_400_000).toISOString() }), 'INVALID_SCHEDULE_TIME'],
  ['a schedule time that is not a date', send({ scheduleTime: 'tomorrow at noon' }), 'BAD_USER_INPUT'],
  ['an empty reference', send({ reference: '' }), 'BAD_USER_INPUT'],
  ['a 129-character reference', send({ reference: 'r'.repeat(129) }), 'BAD_USER_INPUT'],
  ['a reference with a line break', send({ reference: 'order\n42' }), 'BAD_USER_INPUT'],
  ['an unknown provider', send({ provider: 'twilio' }), 'PROVIDER_NOT_FOUND'],
  ['an empty provider name', send({ provider: '' }), 'PROVIDER_NOT_FOUND'],
  ['an unknown input field', send({ priority: 'urgent' }), 'BAD_USER_INPUT'],
  ['a quote of an empty message', { query: QUOTE, variables: { input: { message: '', recipients: [OK] } } }, 'MISSING_MESSAGE'],
  ['an empty message id', { query: MESSAGE, variables: { id: '' } }, 'MESSAGE_NOT_FOUND'],
  ['a delivery id where a message id goes', { query: MESSAGE, variables: { id: b64(`Delivery:${UUID}`) } }, 'MESSAGE_NOT_FOUND'],
  ['an emoji message id', { query: MESSAGE, variables: { id: '💥' } }, 'MESSAGE_NOT_FOUND'],
  ['a message id that decodes to no uuid', { query: MESSAGE, variables: { id: b64("Message:1' OR '1'='1") } }, 'MESSAGE_NOT_FOUND'],
  ['first: 0', { query: REPORTS, variables: { first: 0 } }, 'BAD_USER_INPUT'],
  ['first: -5', { query: REPORTS, variables: { first: -5 } }, 'BAD_USER_INPUT'],
  ['first: 101', { query: REPORTS, variables: { first: 101 } }, 'BAD_USER_INPUT'],
  ['first: "ten"', { query: REPORTS, variables: { first: 'ten' } }, 'BAD_USER_INPUT'],
  ['first: 2^31', { query: REPORTS, variables: { first: 2 ** 31 } }, 'BAD_USER_INPUT'],
  ['a cursor of punctuation', { query: REPORTS, variables: { after: '!!!' } }, 'BAD_USER_INPUT'],
  ['a hand-made cursor', { query: REPORTS, variables: { after: Buffer.from('dr:abc:def').toString('base64url') } }, 'BAD_USER_INPUT'],
  ['an unknown status filter', { query: REPORTS, variables: { filter: { status: 'LOST' } } }, 'BAD_USER_INPUT'],
  ['a start date after the end date', { query: REPORTS, variables: { filter: { startDate: '2026-02-01T00:00:00Z', endDate: '2026-01-01T00:00:00Z' } } }, 'BAD_USER_INPUT'],
  ['a recipient filter that is no number', { query: REPORTS, variables: { filter: { recipient: 'call me' } } }, 'INVALID_PHONE_FORMAT'],
  ['a sender filter with a NUL character', { query: REPORTS, variables: { filter: { senderId: 'A\u0000B' } } }, 'BAD_USER_INPUT'],
  ['a message filter of garbage', { query: REPORTS, variables: { filter: { messageId: 'garbage' } } }, 'MESSAGE_NOT_FOUND'],
  ['an unknown argument', { query: '{ balance(currency: "EUR") { amount } }' }, 'BAD_USER_INPUT'],
  ['a syntax error', { query: '{ balance { amount ' }, 'BAD_USER_INPUT'],
  ['an unknown field', { query: '{ balanse { amount } }' }, 'BAD_USER_INPUT'],
  ['a query nine levels deep', { query: `{ deliveryReports { edges { node { message { deliveries { message { deliveries { message { id } } } } } } } } }` }, 'BAD_USER_INPUT'],
  ['16 aliases', { query: `{ ${Array.from({ length: 16 }, (_, i) => `a${i}: balance { amount }`).join(' ')} }` }, 'BAD_USER_INPUT'],
  ['21 directives', { query: `{ balance { amount ${'@include(if: true) '.repeat(21)} } }` }, 'BAD_USER_INPUT'],
  ['30,000 tokens', { query: `{ balance { ${'amount '.repeat(30_000)} } }` }, 'BAD_USER_INPUT'],
  ['two operations and no operation name', { query: 'query A { balance { amount } } query B { balance { currency } }' }, 'BAD_USER_INPUT'],
  ['variables that are not an object', { query: MESSAGE, variables: 'id' }, 'BAD_USER_INPUT'],
  ['a body over 1 MiB', send({ message: 'x'.repeat(1_100_000) }), 'BAD_USER_INPUT'],
  ['a body that is not JSON', '{"query": "{ balance { amount } }"', 'BAD_USER_INPUT'],
];

describe('hostile and malformed input', () => {
  let gateway: TestGateway;
  let key: string;
  let accountId: string;

  beforeAll(async () => {
    gateway = await startGateway({ DISPATCHER: 'off', MIFUMO_API_KEY: 'k', MIFUMO_BASE_URL: 'http://127.0.0.1:9', RATE_LIMITS: JSON.stringify({ send: 10_000, status: 10_000, reports: 10_000, balance: 10_000 }) });
    ({ apiKey: key, accountId } = await gateway.account({ credit: '5' }));
  });
  afterAll(() => gateway.stop());

  it.each(GRAPHQL_CASES)('answers %s with its code and changes nothing', async (_name, body, code) => {
    const before = await accountState(gateway.app.services.db, accountId);
    const response = await fetch(gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const result = (await response.json()) as { errors?: Array<{ message: string; extensions?: { code?: string } }> };
    expect(result.errors?.[0]?.extensions?.code, JSON.stringify(result).slice(0, 300)).toBe(code);
    expect(JSON.stringify(result)).not.toMatch(/Did you mean|stack|at \w+ \(|prisma/i);
    expect(await accountState(gateway.app.services.db, accountId)).toEqual(before);
  });

  it('refuses a mutation over GET', async () => {
    const query = encodeURIComponent('mutation { sendSms(input: {message: "hi", recipients: ["+255712345671"]}) { message { id } } }');
    const response = await fetch(`${gateway.graphqlUrl}?query=${query}`, { headers: { authorization: `Bearer ${key}` } });
    expect(response.status).toBe(405);
    expect(((await response.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code).toBe('BAD_USER_INPUT');
  });

  it.each([
    ['a cursor of punctuation', { after: '!!!' }, 'BAD_USER_INPUT'],
    ['a delivery id where a message id goes', { messageId: b64(`Delivery:${UUID}`) }, 'MESSAGE_NOT_FOUND'],
    ['a syntax error', null, 'BAD_USER_INPUT'],
  ])('answers a subscription with %s over WebSocket with %s', async (_name, variables, code) => {
    const errors = await new Promise<Array<{ extensions?: { code?: string } }>>((resolve, reject) => {
      const socket = new WebSocket(gateway.wsUrl, 'graphql-transport-ws');
      socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${key}` } })));
      socket.on('message', (data) => {
        const message = JSON.parse(String(data));
        if (message.type === 'connection_ack') {
          const query = variables ? 'subscription ($after: String, $messageId: ID) { deliveryUpdated(after: $after, messageId: $messageId) { cursor } }' : 'subscription { deliveryUpdated {';
          socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables: variables ?? {} } }));
        } else if (message.type === 'error') {
          resolve(message.payload);
          socket.close();
        } else if (message.type === 'next' && message.payload.errors) {
          resolve(message.payload.errors);
          socket.close();
        }
      });
      socket.on('error', reject);
    });
    expect(errors[0]?.extensions?.code).toBe(code);
  });

  const webhook = { event: 'message.delivered', message_id: 'msg_1', recipient: OK, status: 'delivered', timestamp: '2026-01-01T00:00:00Z' };
  it.each([
    ['a wrong token', '?token=nope', JSON.stringify(webhook), 'application/json', 401],
    ['no token', '', JSON.stringify(webhook), 'application/json', 401],
    ['broken JSON', '?token=SECRET', '{"event": "message.', 'application/json', 400],
    ['another shape', '?token=SECRET', JSON.stringify({ hello: 'world' }), 'application/json', 400],
    ['an unknown event', '?token=SECRET', JSON.stringify({ ...webhook, event: 'message.exploded' }), 'application/json', 400],
    ['a NUL in an identifier', '?token=SECRET', JSON.stringify({ ...webhook, message_id: 'msg\u0000' }), 'application/json', 400],
    ['a lone surrogate in an identifier', '?token=SECRET', JSON.stringify({ ...webhook, message_id: 'msg\ud800' }), 'application/json', 400],
    ['a body over 64 KiB', '?token=SECRET', JSON.stringify({ ...webhook, pad: 'x'.repeat(70_000) }), 'application/json', 413],
    ['a text/plain body', '?token=SECRET', 'event=message.delivered', 'text/plain', 400],
  ])('answers a callback with %s with its status, and changes nothing', async (_name, query, body, type, status) => {
    const before = await gateway.app.services.db.deliveryEvent.count();
    const secret = gateway.app.services.callbacks.secret!;
    const response = await fetch(`${gateway.url}/callbacks/mifumo${query.replace('SECRET', secret)}`, {
      method: 'POST',
      headers: { 'content-type': type },
      body,
    });
    expect(response.status).toBe(status);
    expect(await gateway.app.services.db.deliveryEvent.count()).toBe(before);
  });
});
