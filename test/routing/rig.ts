import { callbackUrl } from '../../src/callbacks/urls.ts';
import { sqlOf } from '../../src/db/client.ts';
import { globalIdOf, rowIdOf } from '../../src/graphql/ids.ts';
import { mifumo } from '../../src/providers/mifumo/index.ts';
import { mimsms } from '../../src/providers/mimsms/index.ts';
import { nextsms } from '../../src/providers/nextsms/index.ts';
import type { Scenario, SimulatorServer } from '../../src/providers/simulator/server.ts';
import { gqlData } from '../support/client.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { manualClock } from '../support/manual-clock.ts';
import { eventually } from '../support/process.ts';
import { Routes, SendRouted } from './documents.ts';

/** The routing window of the rigs, and how far their clock moves to leave it. */
export const WINDOW_MS = 900_000;
export const BUCKET_MS = WINDOW_MS / 15;


type RouteEntry = Awaited<ReturnType<typeof readRoutes>>[number];
const readRoutes = async (url: string, apiKey: string) => (await gqlData(url, apiKey, Routes)).routes;

export type Rig = {
  gateway: TestGateway;
  clock: ReturnType<typeof manualClock>;
  sims: { mifumo: SimulatorServer; nextsms: SimulatorServer; mimsms: SimulatorServer };
  apiKey: string;
  accountId: string;
  /** Sends `count` texts to Tanzanian numbers, 100 recipients a request; returns the messages' ids. */
  send(count: number, text?: string): Promise<string[]>;
  /** Waits until every delivery of `messages` has its final status, then (unless told not to) has the router count and read. */
  settle(messages: string[], options?: { count?: boolean }): Promise<void>;
  /** How many deliveries of `messages` each provider carried, and how many of them explored. */
  carried(messages: string[]): Promise<{ byProvider: Record<string, number>; explored: Record<string, number>; total: number }>;
  /** The deliveries of `messages` (global ids), with who carried them. */
  deliveries(messages: string[]): Promise<Array<{ id: string; provider: string | null; status: string }>>;
  /** The `routes` entry of Tanzania, as an admin key reads it. */
  tanzania(): Promise<RouteEntry>;
  /** One provider of it. */
  inTanzania(provider: string): Promise<RouteEntry['providers'][number]>;
  stop(): Promise<void>;
};

/**
 * A gateway routing adaptively on a hand-moved clock and a seeded random source, with Mifumo
 * and NextSMS both serving Tanzania (Mifumo cheaper) and MiM SMS, which serves Bangladesh only,
 * first on the Tanzanian route.
 */
export async function startRig(options: { env?: Record<string, string>; scenarios?: { mifumo?: Scenario; nextsms?: Scenario } } = {}): Promise<Rig> {
  const clock = manualClock();
  const sims = {
    mifumo: mifumo.createSimulator(mifumo.simulatorConfig, { reportDelayMs: 50, rateLimits: false, clock, scenario: options.scenarios?.mifumo } as never),
    nextsms: nextsms.createSimulator(nextsms.simulatorConfig, { reportDelayMs: 50, clock, scenario: options.scenarios?.nextsms }),
    mimsms: mimsms.createSimulator(mimsms.simulatorConfig, { reportDelayMs: 50 }),
  };
  await Promise.all(Object.values(sims).map((sim) => sim.start()));
  const gateway = await startGateway(
    {
      ...mifumo.environment(mifumo.simulatorConfig, sims.mifumo.url),
      ...nextsms.environment(nextsms.simulatorConfig, sims.nextsms.url),
      ...mimsms.environment(mimsms.simulatorConfig, sims.mimsms.url),
      ROUTES: JSON.stringify({ default: ['mifumo'], TZ: ['mimsms', 'mifumo', 'nextsms'], BD: ['mimsms'] }),
      PROVIDER_RATES: JSON.stringify({ mifumo: 50, nextsms: 50 }),
      PROVIDER_PRICES: JSON.stringify({ mifumo: { TZ: '0.0150' }, nextsms: { TZ: '0.0200' } }),
      REPORT_POLL_AFTER_MS: '100',
      // A Mifumo webhook lost to a busy machine is made up for by asking.
      CALLBACK_SAFETY_POLL_MS: '2000',
      PROVIDER_BALANCE_CHECK_MS: '0',
      ROUTING_MODE: 'adaptive',
      ROUTING_WINDOW_SECONDS: String(WINDOW_MS / 1000),
      ROUTING_MIN_REPORTS: '10',
      ROUTING_EXPLORATION: '0.05',
      ROUTING_SEED: '21',
      // The test counts and reads when it has waited for the reports (Rig.settle).
      ROUTING_REFRESH_MS: '3600000',
      ROUTING_COUNT_DELAY_MS: '0',
      ...options.env,
    },
    undefined,
    undefined,
    { clock },
  );
  const { callbacks } = gateway.app.services;
  sims.mifumo.configure({ webhookUrl: callbackUrl(callbacks.baseUrl!, 'mifumo', callbacks.secret!) });
  const { apiKey, accountId } = await gateway.account({ credit: '100000' });
  const sql = sqlOf(gateway.app.services.db);
  let next = 0;
  const tanzania = async () => (await readRoutes(gateway.graphqlUrl, apiKey)).find((r) => r.destination === 'TZ')!;
  return {
    gateway,
    clock,
    sims,
    apiKey,
    accountId,
    async send(count, text = 'Your code is 4821') {
      const ids: string[] = [];
      for (let sent = 0; sent < count; sent += 100) {
        // Last digits 0 to 6: the simulators' own rule delivers them (7, 8 and 9 fail on purpose).
        const recipients = Array.from({ length: Math.min(100, count - sent) }, () => {
          next += 1;
          return `+25571${String(2_000_000 + next * 10 + (next % 7)).padStart(7, '0')}`;
        });
        const result = await gqlData(gateway.graphqlUrl, apiKey, SendRouted, { input: { message: text, recipients } });
        ids.push(result.sendSms.message.id);
      }
      return ids;
    },
    async settle(messages, options = {}) {
      const rowIds = messages.map(rowIdOfMessage);
      await eventually(async () => {
        const [row] = await sql.query<{ open: number }>(
          `SELECT count(*)::int AS open FROM deliveries WHERE message_id = ANY($1::uuid[])
             AND status NOT IN ('DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED')`,
          [rowIds],
        );
        return row!.open === 0;
      }, 'every delivery to reach its final status', 60_000);
      if (options.count !== false) await gateway.app.services.router.tick();
    },
    async carried(messages) {
      const rows = await sql.query<{ provider: string; explored: boolean; n: number }>(
        `SELECT coalesce(provider, route[1]) AS provider, coalesce((routing ->> 'explored')::boolean, false) AS explored, count(*)::int AS n
           FROM deliveries WHERE message_id = ANY($1::uuid[]) GROUP BY 1, 2`,
        [messages.map(rowIdOfMessage)],
      );
      const byProvider: Record<string, number> = {};
      const explored: Record<string, number> = {};
      let total = 0;
      for (const row of rows) {
        byProvider[row.provider] = (byProvider[row.provider] ?? 0) + row.n;
        if (row.explored) explored[row.provider] = (explored[row.provider] ?? 0) + row.n;
        total += row.n;
      }
      return { byProvider, explored, total };
    },
    async deliveries(messages) {
      const rows = await sql.query<{ id: string; provider: string | null; status: string }>(
        `SELECT id, provider, status::text FROM deliveries WHERE message_id = ANY($1::uuid[]) ORDER BY id`,
        [messages.map(rowIdOfMessage)],
      );
      return rows.map((row) => ({ ...row, id: globalIdOf('Delivery', row.id) }));
    },
    tanzania,
    inTanzania: async (provider) => (await tanzania()).providers.find((p) => p.provider === provider)!,
    async stop() {
      await gateway.stop();
      await Promise.all(Object.values(sims).map((sim) => sim.stop()));
    },
  };
}

const rowIdOfMessage = (globalId: string) => rowIdOf(globalId, 'Message')!;
