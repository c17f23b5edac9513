import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { adminUrl, createTestDatabase, serverUrl } from '../support/database.ts';
import { Balance, DeliveryUpdated, SendSms } from '../support/documents.ts';
import { REDIS_URL } from '../support/gateway.ts';
import { eventually, liveSubscribers, spawnGateway, type GatewayProcess } from '../support/process.ts';

const run = promisify(execFile);
const running: GatewayProcess[] = [];
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop('SIGKILL')));
});

async function cli(databaseUrl: string, ...args: string[]) {
  const { stdout } = await run('npm', ['run', '--silent', 'cli', '--', ...args], { env: { ...process.env, DATABASE_URL: databaseUrl } });
  return JSON.parse(stdout) as Record<string, string>;
}

describe('the gateway as a user runs it', () => {
  it('creates its database, serves /health, /ready and a balance query for a key from the CLI, and stops on SIGTERM', async () => {
    // A database that does not exist yet: the CLI creates and migrates it, as npm start would.
    const databaseUrl = serverUrl(`sgw_t_${inject('testRun')}_fresh_${randomBytes(3).toString('hex')}`);
    const created = await cli(databaseUrl, 'accounts', 'create', '--name', 'Acme', '--credit', '12.5');
    expect(created.apiKey).toMatch(/^sgw_live_/);

    const gateway = await spawnGateway({ DATABASE_URL: databaseUrl, REDIS_URL: '' });
    running.push(gateway);
    expect(gateway.logs.join('\n')).toMatch(/in-process pub\/sub/);
    expect((await fetch(`${gateway.url}/health`)).status).toBe(200);
    const ready = await fetch(`${gateway.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ database: 'up', pubsub: 'in-process' });
    const balance = await gqlData(`${gateway.url}/graphql`, created.apiKey!, Balance);
    expect(balance.balance).toMatchObject({ accountId: created.accountId, amount: '12.50', currency: 'USD' });

    expect(await gateway.stop('SIGTERM')).toBe(0);
    expect(gateway.logs.join('\n')).not.toContain(created.apiKey!);
  });

  it('shuts down in order when a supervisor sends SIGTERM to `npm start` alone', async () => {
    // systemd and `docker stop` signal the process they started, not its group.
    const gateway = await spawnGateway({ DATABASE_URL: await createTestDatabase(), REDIS_URL: '' }, { npm: true });
    running.push(gateway);
    process.kill(gateway.child.pid!, 'SIGTERM');
    // Resolves once nothing holds the gateway's output open: no node process was left behind.
    await gateway.exited;
    expect(gateway.logs.some((line) => line.includes('"signal":"SIGTERM"') && line.includes('"shutting down"'))).toBe(true);
  });

  it('lets a subscriber on one instance see a message sent through another', async () => {
    const databaseUrl = await createTestDatabase();
    const env = { DATABASE_URL: databaseUrl, REDIS_URL, SANDBOX_DELIVERY_DELAY_MS: '50', DISPATCH_POLL_INTERVAL_MS: '50' };
    const [a, b] = await Promise.all([spawnGateway(env), spawnGateway(env)]);
    running.push(a, b);
    const { apiKey, accountId } = await cli(databaseUrl, 'accounts', 'create', '--name', 'Two', '--credit', '1');

    const updates = new Collector(wsClient(`${a.url.replace('http', 'ws')}/graphql`, apiKey!), DeliveryUpdated);
    await eventually(async () => (await liveSubscribers(a.url)) >= 1, 'the subscription on A to be live');
    const sent = await gqlData(`${b.url}/graphql`, apiKey!, SendSms, {
      input: { message: 'across instances', recipients: ['+255712345671', '+255712345678'] },
    });
    await updates.until((items) => items.filter((u) => ['DELIVERED', 'FAILED'].includes(u.deliveryUpdated.delivery.status)).length === 2);
    updates.dispose();
    expect(updates.items.every((u) => u.deliveryUpdated.messageId === sent.sendSms.message.id)).toBe(true);
    expect(updates.items.map((u) => u.deliveryUpdated.delivery.status).sort()).toEqual(
      ['DELIVERED', 'FAILED', 'QUEUED', 'QUEUED', 'SENT', 'SENT'],
    );
    expect(accountId).toBeTruthy();
  });
});

afterAll(async () => {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`sgw_t_${inject('testRun')}_fresh_%`]);
  for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
  await client.end();
});
