import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { isPublicAddress } from '../../src/webhooks/addresses.ts';
import { webhookRetryDelayMs } from '../../src/webhooks/worker.ts';

describe('webhook retry schedule', () => {
  const { retryBaseMs, maxAttempts } = loadConfig({}).webhooks;

  it('retries first within about 10 s, then within a minute, and keeps trying for more than 24 hours', () => {
    for (const random of [() => 0, () => 0.5, () => 0.999]) {
      const waits = Array.from({ length: maxAttempts - 1 }, (_, i) => webhookRetryDelayMs(retryBaseMs, i + 1, random));
      expect(waits[0]).toBeLessThanOrEqual(10_000);
      expect(waits[0]! + waits[1]!).toBeLessThanOrEqual(60_000);
      expect(waits.every((wait, i) => i === 0 || wait >= waits[i - 1]! * (0.8 / 1.2))).toBe(true);
      expect(waits.reduce((a, b) => a + b, 0)).toBeGreaterThan(24 * 3600_000);
    }
  });

  it('spreads retries with jitter', () => {
    expect(webhookRetryDelayMs(5000, 3, () => 0)).not.toBe(webhookRetryDelayMs(5000, 3, () => 0.9));
  });
});

describe('public addresses', () => {
  it('are unicast internet addresses only, in IPv4 and IPv6', () => {
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111']) expect(isPublicAddress(address), address).toBe(true);
    for (const address of [
      '127.0.0.1',
      '10.0.0.1',
      '172.16.0.1',
      '192.168.0.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fe80::1',
      'fd00:ec2::254',
      '::ffff:127.0.0.1',
      '::ffff:10.0.0.1',
      'not an address',
    ]) {
      expect(isPublicAddress(address), address).toBe(false);
    }
  });
});
