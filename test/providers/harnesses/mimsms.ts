import { expect } from 'vitest';
import type { MimsmsConfig } from '../../../src/providers/mimsms/adapter.ts';
import { mimsms } from '../../../src/providers/mimsms/index.ts';
import { mapMimsms } from '../../../src/providers/mimsms/status-map.ts';
import type { ProviderHarness } from '../harness.ts';

export const mimsmsHarness: ProviderHarness<MimsmsConfig> = {
  module: mimsms,
  numbers: { delivered: ['+8801712345671', '+8801712345672'], failed: '+8801712345678', rejected: '+8801712345677' },
  expectDocumentedSubmission(request, batch, config) {
    // provider-docs/001, "1. Send SMS": a JSON POST, credentials in the body, one phone in the
    // international form without '+'. schedule_time is left out (the gateway schedules itself).
    expect(batch.items).toHaveLength(1);
    const item = batch.items[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/send-sms');
    expect(request.headers['content-type']).toMatch(/^application\/json/);
    expect(request.headers.authorization).toBeUndefined();
    const body = request.body as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['api_key', 'message', 'password', 'phone', 'priority', 'sender_id', 'username']);
    expect(body).toEqual({
      api_key: config.apiKey,
      username: config.username,
      password: config.password,
      sender_id: batch.senderId,
      phone: item.recipient.replace(/^\+/, ''),
      message: item.text,
      priority: 'normal',
    });
    expect(body.phone).toMatch(/^8801[3-9]\d{8}$/);
  },
  paths: { send: '/send-sms', status: '/status' },
  submissionsFor: (n) => n,
  mappingCases: [
    { raw: 'success', status: 'SENT' },
    { raw: 'sent', status: 'SENT' },
    { raw: 'accepted', status: 'SENT' },
    { raw: 'delivered', status: 'DELIVERED' },
    { raw: 'failed', status: 'FAILED', permanent: false, errorCode: 'MIMSMS_FAILED' },
    { raw: 'rejected', status: 'REJECTED', permanent: true, errorCode: 'MIMSMS_REJECTED' },
    { raw: 'error', status: 'FAILED', permanent: false, errorCode: 'MIMSMS_ERROR' },
    { raw: 'invalid_phone', status: 'REJECTED', permanent: true, errorCode: 'MIMSMS_INVALID_PHONE' },
    { raw: 'insufficient_balance', status: 'FAILED', permanent: true, errorCode: 'MIMSMS_INSUFFICIENT_BALANCE' },
    { raw: 'invalid_sender_id', status: 'REJECTED', permanent: true, errorCode: 'MIMSMS_INVALID_SENDER_ID' },
    { raw: 'authentication_failed', status: 'FAILED', permanent: true, errorCode: 'MIMSMS_AUTHENTICATION_FAILED' },
    { raw: '1001', status: 'FAILED', permanent: true, errorCode: 'MIMSMS_INVALID_API_KEY' },
    { raw: '1002', status: 'FAILED', permanent: true, errorCode: 'MIMSMS_INVALID_CREDENTIALS' },
    { raw: '1003', status: 'FAILED', permanent: true, errorCode: 'MIMSMS_INSUFFICIENT_BALANCE' },
    { raw: '1004', status: 'REJECTED', permanent: true, errorCode: 'MIMSMS_INVALID_PHONE' },
    { raw: '1005', status: 'REJECTED', permanent: true, errorCode: 'MIMSMS_INVALID_SENDER_ID' },
    { raw: '1006', status: 'REJECTED', permanent: true, errorCode: 'MIMSMS_MESSAGE_TOO_LONG' },
    { raw: '1007', status: 'FAILED', permanent: false, errorCode: 'MIMSMS_RATE_LIMITED' },
    { raw: '1008', status: 'FAILED', permanent: false, errorCode: 'MIMSMS_SERVICE_UNAVAILABLE' },
  ],
  mapRaw: mapMimsms,
  wrongCredentials: (config) => ({ ...config, apiKey: 'not-the-key' }),
  wrongCredentialsCode: 'MIMSMS_INVALID_API_KEY',
};
