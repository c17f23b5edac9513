import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/accounts/accounts.ts';
import { createDb } from '../../src/db/client.ts';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { createTestDatabase } from '../support/database.ts';
import { DeliveryUpdated, MessageById, SendSms } from '../support/documents.ts';
import { freePort } from '../../src/shared/free-port.ts';
import { spawnGateway, type GatewayProcess } from '../support/process.ts';

const run = promisify(execFile);
const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** `npm run simulators` as a user runs it; resolves with what it prints on stdout. */
function startSimulators(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/simulators/main.ts', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(() => child.kill('SIGKILL'));
  return new Promise<{ simulators: Record<string, string>; env: Record<string, string> }>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      try {
        resolve(JSON.parse(out));
      } catch {
        // Not all of it yet.
      }
    });
    child.on('exit', (code) => reject(new Error(`simulators exited with ${code}`)));
  });
}

describe('npm run simulators, then npm start pointed at them', () => {
  it('sends a message through every provider and reads every provider status', async () => {
    const port = await freePort();
    const secret = 'dev-secret-0123456789';
    const printed = await startSimulators(['--base-port', '0', '--report-delay-ms', '100', '--gateway', `http://127.0.0.1:${port}`], {
      CALLBACK_SECRET: secret,
    });
    expect(Object.keys(printed.simulators).sort()).toEqual(['mifumo', 'mimsms', 'mtn_congo', 'nextsms']);
    for (const url of Object.values(printed.simulators)) expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(printed.env).toMatchObject({ CALLBACK_SECRET: secret, MIFUMO_BASE_URL: printed.simulators.mifumo });

    const databaseUrl = await createTestDatabase();
    const gateway: GatewayProcess = await spawnGateway({ ...printed.env, PORT: String(port), DATABASE_URL: databaseUrl, REDIS_URL: '' });
    cleanups.push(() => gateway.stop('SIGKILL'));
    const db = createDb(databaseUrl, 2);
    cleanups.push(() => db.$disconnect());
    const { apiKey } = await createAccount(db, { name: 'by hand', currency: 'USD', credit: '10' });

    const recipients: Record<string, string> = {
      mifumo: '+255712345671',
      nextsms: '+255712345672',
      mimsms: '+8801712345671',
      mtn_congo: '+242068463491',
    };
    const updates = new Collector(wsClient(`${gateway.url.replace('http', 'ws')}/graphql`, apiKey), DeliveryUpdated);
    for (const [provider, recipient] of Object.entries(recipients)) {
      await gqlData(`${gateway.url}/graphql`, apiKey, SendSms, { input: { message: `via ${provider}`, recipients: [recipient], provider } });
    }
    await updates.until((items) => items.filter((u) => u.deliveryUpdated.delivery.status === 'DELIVERED').length === 4, 'four deliveries');
    updates.dispose();
    const delivered = updates.items.filter((u) => u.deliveryUpdated.delivery.status === 'DELIVERED').map((u) => u.deliveryUpdated.delivery);
    expect(Object.fromEntries(delivered.map((d) => [d.provider, d.recipient]))).toEqual(recipients);

    const { stdout } = await run('npm', ['run', '--silent', 'cli', '--', 'providers', 'status'], {
      env: { ...process.env, ...printed.env, DATABASE_URL: databaseUrl },
    });
    const status = JSON.parse(stdout) as Array<{ provider: string; enabled: boolean; balance: { amount: string } | null; balanceError: string | null; lastError: unknown }>;
    expect(status.map((s) => [s.provider, s.enabled])).toEqual([
      ['mifumo', true],
      ['mimsms', true],
      ['mtn_congo', true],
      ['nextsms', true],
    ]);
    for (const line of status) {
      if (line.provider === 'mtn_congo') expect(line.balanceError).toMatch(/balance/i);
      else expect(line.balance?.amount).toMatch(/^\d+(\.\d+)?$/);
      expect(line.lastError).toBeNull();
    }

    // The README's fault step, posted as `curl -d` posts it: a JSON body under a form content type.
    const fault = await fetch(`${printed.simulators.mifumo}/__simulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: '{"kind": "http500", "times": 1}',
    });
    expect(fault.status).toBe(200);
    const { sendSms } = await gqlData(`${gateway.url}/graphql`, apiKey, SendSms, {
      input: { message: 'after a 500', recipients: ['+255712345673'], provider: 'mifumo' },
    });
    const retried = new Collector(wsClient(`${gateway.url.replace('http', 'ws')}/graphql`, apiKey), DeliveryUpdated, {
      messageId: sendSms.message.id,
    });
    await retried.until((items) => items.some((u) => u.deliveryUpdated.delivery.status === 'DELIVERED'), 'the retried delivery');
    retried.dispose();
    const { message } = await gqlData(`${gateway.url}/graphql`, apiKey, MessageById, { id: sendSms.message.id });
    expect(message?.deliveries[0]?.attempts.map((a) => [a.provider, a.outcome])).toEqual([
      ['mifumo', 'RETRY'],
      ['mifumo', 'SUBMITTED'],
    ]);
  }, 120_000);
});
