import { expect } from 'vitest';
import { NEXTSMS_MAX_RECIPIENTS, type NextsmsConfig } from '../../../src/providers/nextsms/adapter.ts';
import { nextsms } from '../../../src/providers/nextsms/index.ts';
import { mapNextsmsRaw, NEXTSMS_REQUEST_ERRORS } from '../../../src/providers/nextsms/status-map.ts';
import type { DeliveryStatus } from '../../../src/db/sql.ts';
import type { ProviderHarness } from '../harness.ts';

type Case = { raw: string; status: DeliveryStatus; permanent?: boolean; errorCode?: string | null };

const sent = (raw: string): Case => ({ raw, status: 'SENT' });
const delivered = (raw: string): Case => ({ raw, status: 'DELIVERED', errorCode: null });
const failed = (raw: string, name: string, permanent: boolean, status: DeliveryStatus = 'FAILED'): Case => ({
  raw,
  status,
  permanent,
  errorCode: `NEXTSMS_${name}`,
});

/** 003's table, by id and by name, then the Postman examples' ids (004). */
const STATUS_CASES: Array<[id: number, name: string, expected: (raw: string) => Case]> = [
  [50, 'PENDING_WAITING_DELIVERY', sent],
  [51, 'ENROUTE', sent],
  [52, 'PENDING_ACCEPTED', sent],
  [73, 'DELIVERED', delivered],
  [74, 'EXPIRED', (raw) => failed(raw, 'EXPIRED', false, 'EXPIRED')],
  [75, 'DELETED', (raw) => failed(raw, 'DELETED', false)],
  [76, 'UNDELIVERABLE', (raw) => failed(raw, 'UNDELIVERABLE', true)],
  [77, 'ACCEPTED', sent],
  [78, 'UNKNOWN', (raw) => failed(raw, 'UNKNOWN', false)],
  [79, 'REJECTED', (raw) => failed(raw, 'REJECTED', true, 'REJECTED')],
  [80, 'SKIPPED', (raw) => failed(raw, 'SKIPPED', false)],
  ...(
    [
      [53, 'REJECTED_NETWORK'],
      [54, 'REJECTED_PREFIX_MISSING'],
      [55, 'REJECTED_DND'],
      [56, 'REJECTED_SOURCE'],
      [57, 'REJECTED_NOT_ENOUGH_CREDITS'],
      [58, 'REJECTED_SENDER'],
      [59, 'REJECTED_DESTINATION'],
      [60, 'REJECTED_PREPAID_PACKAGE_EXPIRED'],
      [61, 'REJECTED_DESTINATION_NOT_REGISTERED'],
      [62, 'REJECTED_ROUTE_NOT_AVAILABLE'],
      [63, 'REJECTED_FLOODING_FILTER'],
      [64, 'REJECTED_SYSTEM_ERROR'],
      [65, 'REJECTED_DUPLICATE_MESSAGE_ID'],
      [66, 'REJECTED_INVALID_UDH'],
      [67, 'REJECTED_MESSAGE_TOO_LONG'],
      [68, 'MISSING_TO'],
      [69, 'REJECTED_INVALID_DESTINATION'],
    ] as Array<[number, string]>
  ).map(([id, name]): [number, string, (raw: string) => Case] => [
    id,
    name,
    // 63 (an hourly limit) and 64 (the document says "retry") may pass later.
    (raw) => failed(raw, name, ![63, 64].includes(id), 'REJECTED'),
  ]),
  [7, 'PENDING_ENROUTE', sent],
  [26, 'PENDING_ACCEPTED', sent],
  [5, 'DELIVERED_TO_HANDSET', delivered],
  [12, 'REJECTED_NOT_ENOUGH_CREDITS', (raw) => failed(raw, 'REJECTED_NOT_ENOUGH_CREDITS', true, 'REJECTED')],
];

export const nextsmsHarness: ProviderHarness<NextsmsConfig> = {
  module: nextsms,
  numbers: { delivered: ['+255712345671', '+255712345672'], failed: '+255712345678', rejected: '+255712345677' },
  expectDocumentedSubmission(request, batch, config) {
    // provider-docs/004, Send Sms > "Single destination" and "Multiple destinations".
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/api/sms/v1/text/single');
    const credentials = Buffer.from(`${config.username}:${config.password}`).toString('base64');
    expect(request.headers.authorization).toBe(`Basic ${credentials}`);
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers.accept).toBe('application/json');
    const body = request.body as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['from', 'to', 'text', 'reference']);
    expect(body.from).toBe(batch.senderId);
    expect(body.text).toBe(batch.items[0]!.text);
    const numbers = batch.items.map((item) => item.recipient.replace(/^\+/, ''));
    expect(body.to).toEqual(numbers.length === 1 ? numbers[0] : numbers);
    for (const number of numbers) expect(number).toMatch(/^255\d{9}$/);
    expect(body.reference).toEqual(batch.reference ?? expect.stringMatching(/^\w+$/));
  },
  paths: { send: '/api/sms/v1/text/single', status: '/api/sms/v1/logs' },
  submissionsFor: (n) => Math.ceil(n / NEXTSMS_MAX_RECIPIENTS),
  mappingCases: [
    ...STATUS_CASES.flatMap(([id, name, expected]) => [expected(String(id)), expected(name)]),
    sent('ENROUTE (SENT)'),
    // Status groups, for ids this gateway does not know.
    sent('PENDING'),
    delivered('DELIVERED'),
    // An unknown operator report (group 20) leaves the delivery as it was.
    sent('DELIVERY'),
    ...Object.keys(NEXTSMS_REQUEST_ERRORS).map((code) => ({
      raw: code,
      status: NEXTSMS_REQUEST_ERRORS[code]!.status,
      permanent: true,
      errorCode: `NEXTSMS_${code}`,
    })),
  ],
  mapRaw: mapNextsmsRaw,
  wrongCredentials: (config) => ({ ...config, password: 'not-the-password' }),
  wrongCredentialsCode: 'NEXTSMS_UNAUTHORIZED',
};
