import { expect } from 'vitest';
import { mifumo } from '../../../src/providers/mifumo/index.ts';
import { mapMifumoError, mapMifumoStatus, MIFUMO_ERRORS } from '../../../src/providers/mifumo/status-map.ts';
import type { MifumoConfig } from '../../../src/providers/mifumo/adapter.ts';
import type { ProviderHarness } from '../harness.ts';

export const mifumoHarness: ProviderHarness<MifumoConfig> = {
  module: mifumo,
  numbers: { delivered: ['+255712345671', '+255712345672'], failed: '+255712345678', rejected: '+255712345677' },
  expectDocumentedSubmission(request, batch, config) {
    // provider-docs/000, "1. Send SMS" and the cURL example.
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/api/integration/v1/sms/send/');
    expect(request.headers.authorization).toBe(`Bearer ${config.apiKey}`);
    expect(request.headers['content-type']).toMatch(/^application\/json/);
    const body = request.body as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['message', 'recipients', 'sender_id']);
    expect(body.message).toBe(batch.items[0]!.text);
    expect(body.sender_id).toBe(batch.senderId);
    expect(body.recipients).toEqual(batch.items.map((item) => item.recipient));
    for (const recipient of body.recipients as string[]) expect(recipient).toMatch(/^\+\d+$/);
  },
  paths: { send: '/api/integration/v1/sms/send/', status: '/api/integration/v1/sms/status/' },
  submissionsFor: (n) => Math.ceil(n / 100),
  mappingCases: [
    { raw: 'pending', status: 'SENT' },
    { raw: 'sent', status: 'SENT' },
    { raw: 'delivered', status: 'DELIVERED' },
    { raw: 'failed', status: 'FAILED', permanent: true, errorCode: 'MIFUMO_FAILED' },
    ...Object.keys(MIFUMO_ERRORS).map((code) => ({
      raw: code,
      status: MIFUMO_ERRORS[code]!.status,
      permanent: !['SMS_SEND_FAILED', 'INTERNAL_ERROR'].includes(code),
      errorCode: `MIFUMO_${code}`,
    })),
  ],
  mapRaw: (raw) => mapMifumoStatus(raw) ?? (raw === raw.toUpperCase() ? mapMifumoError(raw) : undefined),
  wrongCredentials: (config) => ({ ...config, apiKey: 'not-the-key' }),
  wrongCredentialsCode: 'MIFUMO_INVALID_API_KEY',
  connectReports(sim, callbackUrl) {
    sim.settings.webhookUrl = callbackUrl;
  },
};
