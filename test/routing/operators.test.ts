import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/accounts/accounts.ts';
import { createDb } from '../../src/db/client.ts';
import { Router } from '../../src/routing/router.ts';
import { gql, gqlData } from '../support/client.ts';
import { MessageRouting, Routes } from './documents.ts';
import { startRig, type Rig } from './rig.ts';

const run = promisify(execFile);

// What operators see and do: pin a destination, read the routes (admin keys only), scrape them.
describe('routing for operators', () => {
  let rig: Rig;
  const cli = async (...args: string[]) =>
    JSON.parse((await run('npm', ['run', '--silent', 'cli', '--', 'routing', ...args], { env: { ...process.env, DATABASE_URL: rig.gateway.databaseUrl, REDIS_URL: '' } })).stdout);

  beforeAll(async () => {
    rig = await startRig();
    const warm = await rig.send(400);
    await rig.settle(warm);
  });
  afterAll(() => rig?.stop());

  it('sends a pinned destination to its provider only, until it is unpinned', async () => {
    expect((await rig.inTanzania('mifumo')).state).toBe('chosen');
    expect(await cli('pin', '--destination', 'TZ', '--provider', 'nextsms')).toEqual({ destination: 'TZ', provider: 'nextsms' });
    await rig.gateway.app.services.router.tick();
    expect(await rig.tanzania()).toMatchObject({ pinned: 'nextsms' });
    expect(await rig.inTanzania('nextsms')).toMatchObject({ share: 1, state: 'chosen' });

    const pinned = await rig.send(200);
    expect(await rig.carried(pinned)).toMatchObject({ byProvider: { nextsms: 200 }, explored: {} });
    const { deliveryReports } = await gqlData(rig.gateway.graphqlUrl, rig.apiKey, MessageRouting, { id: pinned[0]! });
    expect(deliveryReports.edges[0]!.node.routing!.reason).toMatch(/nextsms: an operator pinned TZ to it/);
    await rig.settle(pinned);

    expect(await cli('unpin', '--destination', 'TZ')).toEqual({ destination: 'TZ', unpinned: true });
    await rig.gateway.app.services.router.tick();
    expect(await rig.tanzania()).toMatchObject({ pinned: null });
    expect((await rig.inTanzania('mifumo')).state).toBe('chosen');
  });

  it('refuses a pin to something that is not a destination or a provider, and changes nothing', async () => {
    for (const args of [['--destination', 'Tanzania', '--provider', 'nextsms'], ['--destination', 'TZ', '--provider', 'acme']]) {
      const failed = await run('npm', ['run', '--silent', 'cli', '--', 'routing', 'pin', ...args], {
        env: { ...process.env, DATABASE_URL: rig.gateway.databaseUrl, REDIS_URL: '' },
      }).catch((error: { code: number; stderr: string }) => error);
      expect(failed).toMatchObject({ code: 2, stderr: expect.stringMatching(/is not a (destination|provider)/) });
    }
    expect(await rig.gateway.app.services.db.routingPin.count()).toBe(0);
  });

  it('counts each report once, whichever gateways count, and every gateway reads the same', async () => {
    const reports = async () => (await rig.inTanzania('mifumo')).reports + (await rig.inTanzania('nextsms')).reports;
    const before = await reports();
    const sent = await rig.send(300);
    await rig.settle(sent, { count: false });
    // Another gateway on the same database, counting at the same moment.
    const { services } = rig.gateway.app;
    const db = createDb(rig.gateway.databaseUrl, 2);
    const other = new Router({ db, providers: services.providers, logger: services.logger, routes: services.config.routes }, services.config.routing, rig.clock);
    try {
      await Promise.all([services.router.tick(), other.tick(), services.router.tick(), other.tick()]);
      // Each reads what was counted at its next reading.
      await Promise.all([services.router.refresh(), other.refresh()]);
      expect(await reports()).toBe(before + 300);
      expect(other.routes()).toEqual(services.router.routes());
    } finally {
      await db.$disconnect();
    }
  });

  it('shows the routes to admin keys only, and on /metrics', async () => {
    const sender = await createApiKey(rig.gateway.app.services.db, rig.accountId, { scopes: ['send', 'read'] });
    const refused = await gql(rig.gateway.graphqlUrl, sender.apiKey, Routes);
    expect(refused.errors?.map((e) => e.extensions?.code)).toEqual(['INSUFFICIENT_PERMISSIONS']);

    const shown = await cli('show');
    expect(shown.find((r: { destination: string }) => r.destination === 'TZ').providers.map((p: { provider: string }) => p.provider)).toEqual(['mifumo', 'nextsms']);

    const metrics = await (await fetch(`${rig.gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/^sms_gateway_route_share\{provider="mifumo",destination="TZ"\} 0\.95$/m);
    expect(metrics).toMatch(/^sms_gateway_route_share\{provider="nextsms",destination="TZ"\} 0\.05$/m);
    expect(metrics).toMatch(/^sms_gateway_route_delivery_ratio\{provider="nextsms",destination="TZ"\} 1$/m);
  });
});
