import { expect } from 'vitest';
import type { MtnCongoConfig } from '../../../src/providers/mtn_congo/adapter.ts';
import { mtnCongo } from '../../../src/providers/mtn_congo/index.ts';
import { MTN_CONGO_MAX_RECEIVERS } from '../../../src/providers/mtn_congo/plan.ts';
import {
  lookupMtnCongoError,
  lookupMtnCongoStatus,
  MTN_CONGO_ERRORS,
  MTN_CONGO_STATUSES,
} from '../../../src/providers/mtn_congo/status-map.ts';
import type { ProviderHarness } from '../harness.ts';

export const mtnCongoHarness: ProviderHarness<MtnCongoConfig> = {
  module: mtnCongo,
  numbers: { delivered: ['+242068463491', '+242068463492'], failed: '+242068463498', rejected: '+242068463497' },
  expectDocumentedSubmission(request, batch, config) {
    // provider-docs/002, "Envoie SMS et mails Non personnalisé", without the e-mail fields.
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/api/sms/');
    expect(request.headers.authorization).toBe(`Token ${config.token}`);
    expect(request.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = request.body as Record<string, unknown>;
    const keys = ['externalId', 'msg', 'receivers', 'sender', ...(batch.callbackUrl ? ['callback_url'] : [])];
    expect(Object.keys(body).sort()).toEqual(keys.sort());
    expect(body.msg).toBe(batch.items[0]!.text);
    expect(body.sender).toBe(batch.senderId);
    expect(body.receivers).toMatch(/^\d+(,\d+)*$/);
    expect(body.receivers).toBe(batch.items.map((item) => item.recipient.replace(/^\+/, '')).join(','));
    expect(body.externalId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    if (batch.callbackUrl) expect(body.callback_url).toBe(batch.callbackUrl);
  },
  paths: { send: '/api/sms/', status: '/api/sms/' },
  submissionsFor: (n) => Math.ceil(n / MTN_CONGO_MAX_RECEIVERS),
  mappingCases: [
    { raw: 'en_attente', status: 'SENT' },
    { raw: 'envoye', status: 'SENT' },
    { raw: 'Envoyé', status: 'SENT' },
    { raw: 'delivre', status: 'DELIVERED', errorCode: null },
    { raw: 'DÉLIVRÉ', status: 'DELIVERED', errorCode: null },
    { raw: 'echec', status: 'FAILED', permanent: true, errorCode: 'MTN_CONGO_UNDELIVERED' },
    { raw: 'rejete', status: 'REJECTED', permanent: true, errorCode: 'MTN_CONGO_REJECTED' },
    { raw: 'expire', status: 'EXPIRED', permanent: true, errorCode: 'MTN_CONGO_EXPIRED' },
    ...Object.keys(MTN_CONGO_ERRORS).map((code) => ({
      raw: code,
      status: MTN_CONGO_ERRORS[code]!.status,
      permanent: true,
      errorCode: `MTN_CONGO_${code}`,
    })),
  ],
  mapRaw: (raw) => lookupMtnCongoStatus(raw) ?? lookupMtnCongoError(raw),
  wrongCredentials: (config) => ({ ...config, token: 'not-the-token' }),
  balance: false,
  wrongCredentialsCode: 'MTN_CONGO_INVALID_TOKEN',
};

// Every status word of status-map.ts has a case above.
for (const status of Object.keys(MTN_CONGO_STATUSES)) {
  if (!mtnCongoHarness.mappingCases.some((c) => c.raw === status)) throw new Error(`no mapping case for MTN Congo status ${status}`);
}
