import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { mifumo } from '../../src/providers/mifumo/index.ts';
import type { SimulatorServer } from '../../src/providers/simulator/server.ts';
import { providerStatus } from '../../src/providers/status-report.ts';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { DeliveryUpdated, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

describe('providers status', () => {
  let sim: SimulatorServer;
  let gateway: TestGateway;

  beforeAll(async () => {
    sim = mifumo.createSimulator(mifumo.simulatorConfig);
    await sim.start();
    gateway = await startGateway({ MIFUMO_BASE_URL: sim.url, MIFUMO_API_KEY: 'a-key-mifumo-refuses' });
  });
  afterAll(async () => {
    await gateway.stop();
    await sim.stop();
  });

  it('shows the last error the dispatcher saw, and the balance call failing the same way', async () => {
    const { apiKey, accountId } = await gateway.account();
    const updates = new Collector(wsClient(gateway.wsUrl, apiKey), DeliveryUpdated);
    await gateway.subscribersLive(accountId);
    await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'refused', recipients: ['+255712345671'], provider: 'mifumo' } });
    await updates.until((items) => items.some((u) => u.deliveryUpdated.delivery.status === 'FAILED'));
    updates.dispose();

    const lines = await providerStatus(gateway.app.services.config, gateway.app.services.db, createLogger('silent'));
    const line = lines.find((l) => l.provider === 'mifumo')!;
    expect(line.enabled).toBe(true);
    expect(line.lastError?.message).toMatch(/^MIFUMO_INVALID_API_KEY/);
    expect(line.balance).toBeNull();
    expect(line.balanceError).toMatch(/invalid or expired/);
    expect(lines.find((l) => l.provider === 'nextsms')).toMatchObject({ enabled: false, balanceError: 'disabled: credentials are not set' });
  });
});
