import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { identityOf, isRunning as isProcessRunning } from '../../src/db/embedded/process-identity.ts';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { Balance, DeliveryUpdated, MessageById, SendSms } from '../support/documents.ts';
import { eventually, inProjectAt, liveSubscribers, spawnGateway, type GatewayProcess } from '../support/process.ts';

const run = promisify(execFile);
/** For a test that starts whole processes several times: minutes on a loaded machine, not seconds. */
const STARTS_TIMEOUT_MS = 120_000;
const running: GatewayProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop('SIGKILL')));
  // A server a failed test left running would outlive its directory.
  for (const dir of dirs) {
    try {
      process.kill(postmasterPid(dir), 'SIGKILL');
    } catch {
      // None there, or gone.
    }
  }
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** What a new user has: no DATABASE_URL, no REDIS_URL; only a DATA_DIR of this test's own. */
function zeroConfig(dataDir: string) {
  return {
    DATABASE_URL: undefined,
    REDIS_URL: undefined,
    DATA_DIR: dataDir,
    SANDBOX_DELIVERY_DELAY_MS: '50',
    DISPATCH_POLL_INTERVAL_MS: '50',
  };
}

async function npmStart(dataDir: string): Promise<GatewayProcess> {
  const gateway = await spawnGateway(zeroConfig(dataDir), { npm: true });
  running.push(gateway);
  return gateway;
}

async function cli(dataDir: string, ...args: string[]) {
  return cliIn(undefined, dataDir, ...args);
}

/** The CLI of the project as cloned at `projectAt` (see inProjectAt), or of this checkout. */
async function cliIn(projectAt: string | undefined, dataDir: string, ...args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, ...zeroConfig(dataDir) };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  const command = ['npm', 'run', '--silent', 'cli', '--', ...args];
  const { file, args: argv } = projectAt ? inProjectAt(projectAt, command) : { file: command[0]!, args: command.slice(1) };
  const { stdout } = await run(file, argv, { env });
  return JSON.parse(stdout) as Record<string, string>;
}

type Owner = { pid: number; port: number };
const ownerOf = (dataDir: string) => JSON.parse(readFileSync(path.join(dataDir, 'owner.json'), 'utf8')) as Owner;
const postmasterPid = (dataDir: string) =>
  Number(readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
const isRunning = (pid: number) => isProcessRunning(identityOf(pid));

describe('npm start with no configuration at all', () => {
  it('serves on an embedded PostgreSQL in DATA_DIR that keeps messages and balances across SIGTERM and kill -9', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'sgw-zero-'));
    dirs.push(dataDir);

    const first = await npmStart(dataDir);
    expect((await fetch(`${first.url}/ready`)).status).toBe(200);
    const log = first.logs.join('\n');
    expect(log).toContain(`its data kept in ${dataDir}`);
    expect(log).toMatch(/set DATABASE_URL=\S+ to use your own server/);
    const owner = ownerOf(dataDir);
    expect(owner.port).not.toBe(5432);

    // The CLI reaches the running gateway's database.
    const { apiKey, accountId } = await cli(dataDir, 'accounts', 'create', '--name', 'New user', '--credit', '1');
    expect(apiKey).toMatch(/^sgw_live_/);

    const updates = new Collector(wsClient(`${first.url.replace('http', 'ws')}/graphql`, apiKey!), DeliveryUpdated);
    await eventually(async () => (await liveSubscribers(first.url)) >= 1, 'the subscription to be live');
    const sent = await gqlData(`${first.url}/graphql`, apiKey!, SendSms, { input: { message: 'Karibu', recipients: ['+255712345671'] } });
    const messageId = sent.sendSms.message.id;
    await updates.until((items) => items.some((u) => u.deliveryUpdated.delivery.status === 'DELIVERED'), 'DELIVERED');
    updates.dispose();
    const balance = (await gqlData(`${first.url}/graphql`, apiKey!, Balance)).balance.amount;
    expect(balance).toBe('0.98');

    // A second gateway on the same directory is refused, plainly.
    const second = await spawnGateway(zeroConfig(dataDir), { npm: true }).then(
      () => 'listening',
      (error: Error) => error.message,
    );
    expect(second).toContain(`DATA_DIR ${dataDir} is in use by the gateway running as pid ${owner.pid}`);
    expect(second).toMatch(/gateway exited \([1-9]/);

    // SIGTERM (to the process group, as a supervisor sends it): the gateway and its PostgreSQL stop cleanly.
    await first.stop('SIGTERM');
    expect(first.logs.join('\n')).not.toMatch(/shutdown failed|"level":50/);
    expect(readFileSync(path.join(dataDir, 'postgres.log'), 'utf8')).toContain('database system is shut down');
    expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    expect(existsSync(path.join(dataDir, 'owner.json'))).toBe(false);

    const restarted = await npmStart(dataDir);
    const read = async (gateway: GatewayProcess) => ({
      status: (await gqlData(`${gateway.url}/graphql`, apiKey!, MessageById, { id: messageId })).message?.status,
      balance: (await gqlData(`${gateway.url}/graphql`, apiKey!, Balance)).balance,
    });
    expect(await read(restarted)).toMatchObject({ status: 'DELIVERED', balance: { accountId, amount: '0.98' } });

    // kill -9 of the gateway alone: its PostgreSQL goes on running, with the directory's files
    // naming a dead owner. The next start stops that server and takes over, with no manual step.
    const orphan = postmasterPid(dataDir);
    process.kill(ownerOf(dataDir).pid, 'SIGKILL');
    await restarted.exited;
    expect(isRunning(orphan)).toBe(true);

    const recovered = await npmStart(dataDir);
    expect(recovered.logs.join('\n')).toContain('stopping the embedded PostgreSQL left running');
    expect(isRunning(orphan)).toBe(false);
    expect((await fetch(`${recovered.url}/ready`)).status).toBe(200);
    expect(await read(recovered)).toMatchObject({ status: 'DELIVERED', balance: { amount: '0.98' } });
    await recovered.stop('SIGINT');
  }, STARTS_TIMEOUT_MS);

  it('lets the CLI start the embedded server for the length of a command when no gateway runs', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'sgw-zero-cli-'));
    dirs.push(dataDir);
    const { accountId } = await cli(dataDir, 'accounts', 'create', '--name', 'Offline', '--credit', '2.5');
    // Nothing is left running between commands, and the next one finds the data.
    expect(existsSync(path.join(dataDir, 'owner.json'))).toBe(false);
    expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    const accounts = (await cli(dataDir, 'accounts', 'list')) as unknown as Array<{ accountId: string; balance: string }>;
    expect(accounts).toEqual([expect.objectContaining({ accountId, balance: '2.50' })]);
  });
});

describe('npm start with a DATABASE_URL that does not answer', () => {
  it('exits non-zero with one readable line naming the server and what to do, and no stack trace', async () => {
    const child = execFile(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { ...process.env, DATABASE_URL: 'postgresql://gateway:s3cret-pass@127.0.0.1:1/sms_gateway', PORT: '0' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));

    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(
      'error: cannot reach PostgreSQL at gateway@127.0.0.1:1/sms_gateway: connection refused (is PostgreSQL running there?). ' +
        `Start it or correct DATABASE_URL, or unset DATABASE_URL to use the embedded PostgreSQL kept in ${fileURLToPath(new URL('../../.data', import.meta.url))}.`,
    );
    expect(`${stdout}${stderr}`).not.toMatch(/\n\s+at |ECONNREFUSED 127|s3cret-pass/);
  });
});

describe.skipIf(process.getuid?.() !== 0)('npm start as root, with the whole project in a directory only root may enter', () => {
  it('keeps the cluster where PostgreSQL can reach it, says where, restarts after kill -9, and lets the CLI in', async () => {
    // As a clone in /root: the project, node_modules included, and DATA_DIR under a 0700 directory.
    const privateDir = await mkdtemp(path.join(tmpdir(), 'sgw-private-'));
    dirs.push(privateDir);
    expect((await stat(privateDir)).mode & 0o777).toBe(0o700);
    const project = path.join(privateDir, 'sms-gateway');
    await mkdir(project);
    const dataDir = path.join(privateDir, 'data');
    const start = async () => {
      const gateway = await spawnGateway(zeroConfig(dataDir), { npm: true, projectAt: project });
      running.push(gateway);
      return gateway;
    };

    const first = await start();
    const said = first.logs.map((line) => JSON.parse(line.startsWith('{') ? line : '{}') as { msg?: string; postgresData?: string });
    const where = said.find((line) => line.msg?.includes('its data kept in'));
    const home = where!.postgresData!;
    dirs.push(home);
    expect(home).toMatch(/^\/var\/lib\/sms-gateway\/[\w.-]+$/);
    expect(where!.msg).toContain(`its data kept in ${home}, because the user "postgres" that PostgreSQL runs as (it refuses root) cannot reach ${dataDir}`);

    const { apiKey } = await cliIn(project, dataDir, 'accounts', 'create', '--name', 'Root user', '--credit', '1');
    const graphql = `${first.url}/graphql`;
    const sent = await gqlData(graphql, apiKey!, SendSms, { input: { message: 'Karibu', recipients: ['+255712345672'] } });
    const messageId = sent.sendSms.message.id;
    const statusOn = async (gateway: GatewayProcess) =>
      (await gqlData(`${gateway.url}/graphql`, apiKey!, MessageById, { id: messageId })).message?.status;
    await eventually(async () => (await statusOn(first)) === 'DELIVERED', 'the message to be delivered');

    // kill -9: the next start stops the server left running and finds the data.
    const orphan = postmasterPid(home);
    process.kill(ownerOf(dataDir).pid, 'SIGKILL');
    await first.exited;
    const restarted = await start();
    const log = restarted.logs.join('\n');
    expect(log).toContain('stopping the embedded PostgreSQL left running');
    expect(log).not.toContain('copied the PostgreSQL binaries');
    expect(isRunning(orphan)).toBe(false);
    expect(await statusOn(restarted)).toBe('DELIVERED');
    expect((await gqlData(`${restarted.url}/graphql`, apiKey!, Balance)).balance.amount).toBe('0.98');
    await restarted.stop('SIGTERM');
    expect(existsSync(path.join(home, 'postgres', 'postmaster.pid'))).toBe(false);

    // A server that cannot start is one line and a non-zero exit.
    await appendFile(path.join(home, 'postgres', 'postgresql.auto.conf'), "max_connections = 'many'\n");
    const { file, args } = inProjectAt(project, [process.execPath, '--import', 'tsx', 'src/main.ts']);
    const env = { ...process.env, ...zeroConfig(dataDir), PORT: '0' };
    delete env.DATABASE_URL;
    delete env.REDIS_URL;
    const failed = await run(file, args, { env }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed.code).toBe(1);
    expect(failed.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^error: the embedded PostgreSQL in ${home}/postgres did not start: .*max_connections.* \\(its log: ${home}/postgres.log\\)$`)),
    ]);
  }, STARTS_TIMEOUT_MS);
});
