import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';

describe('configuration', () => {
  it('refuses a dispatch lease no longer than a provider call, naming both settings', () => {
    expect(() => loadConfig({ DISPATCH_LEASE_MS: '5000', PROVIDER_TIMEOUT_MS: '10000' })).toThrow(
      /DISPATCH_LEASE_MS: must be longer than PROVIDER_TIMEOUT_MS/,
    );
    expect(() => loadConfig({ DISPATCH_LEASE_MS: '10000', PROVIDER_TIMEOUT_MS: '10000' })).toThrow(/DISPATCH_LEASE_MS/);
    expect(loadConfig({ DISPATCH_LEASE_MS: '2000', PROVIDER_TIMEOUT_MS: '1000' }).dispatch.leaseMs).toBe(2000);
    expect(loadConfig({}).dispatch.leaseMs).toBeGreaterThan(loadConfig({}).providerTimeoutMs);
  });
});
