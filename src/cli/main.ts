// The admin command line: `npm run --silent cli -- <command>`. Prints exactly one JSON document
// on stdout; errors go to stderr with a non-zero exit code.
import { Command, CommanderError } from 'commander';
import { AccountError, adjustBalance, callerOfAccount, createAccount, createApiKey, listAccounts, revokeApiKey } from '../accounts/accounts.ts';
import { DEFAULT_KEY_SCOPES, parseScopes, SCOPES } from '../accounts/api-keys.ts';
import { normaliseOrigin } from '../accounts/origins.ts';
import { loadConfig } from '../config.ts';
import { createDb, type Db } from '../db/client.ts';
import { openDatabase } from '../db/open.ts';
import { pino } from 'pino';
import { providerCallbacks, providerStatus } from '../providers/status-report.ts';
import { Presets, SingleBar } from 'cli-progress';
import { createInProcessBus, createRedisBus } from '../deliveries/event-bus.ts';
import { readPhoneCsv, sendCsv } from '../messages/csv-send.ts';
import { importOptOuts } from '../optouts/optouts.ts';
import { createProviders } from '../providers/index.ts';
import { PinError, pinDestination, unpinDestination } from '../routing/pins.ts';
import { Router } from '../routing/router.ts';
import { GatewayError } from '../shared/errors.ts';
import { StartFailure } from '../shared/start-failure.ts';

class UsageError extends Error {}

/** The gateway's database for the length of a command: a running gateway's embedded server, or one started for it. */
async function withDb<T>(run: (db: Db) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const logger = pino({ level: 'warn' }, pino.destination(2));
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, role: 'cli', logger });
  const db = createDb(database.url, 2);
  try {
    return await run(db);
  } finally {
    await db.$disconnect();
    await database.close();
  }
}

function print(value: unknown) {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function currencyCode(value: string): string {
  const code = value.toUpperCase();
  if (!/^[A-Z]{3}$/.test(code)) throw new UsageError(`"${value}" is not an ISO 4217 currency code`);
  return code;
}

export function buildCli(): Command {
  const program = new Command('cli').description('SMS gateway administration').exitOverride();
  program.configureOutput({ writeOut: (text) => process.stderr.write(text), writeErr: (text) => process.stderr.write(text) });

  const accounts = program.command('accounts').description('accounts and their balances');
  accounts
    .command('create')
    .description('create an account and its first API key (shown once)')
    .requiredOption('--name <name>', 'account name')
    .option('--credit <amount>', 'opening credit', '0')
    .option('--currency <ISO>', 'currency of the balance and prices')
    .option('--test', 'test mode: always the sandbox provider, never charged', false)
    .action(async (options: { name: string; credit: string; currency?: string; test: boolean }) => {
      const config = loadConfig();
      const currency = currencyCode(options.currency ?? config.defaultCurrency);
      if (!config.priceTable[currency]) {
        throw new UsageError(`no prices are configured in ${currency} (PRICE_TABLE has ${Object.keys(config.priceTable).join(', ')})`);
      }
      const created = await withDb((db) => createAccount(db, { ...options, currency }));
      print({ accountId: created.accountId, apiKey: created.apiKey, apiKeyId: created.apiKeyId });
    });
  accounts
    .command('list')
    .description('every account with its balance')
    .action(async () => print(await withDb(listAccounts)));
  accounts
    .command('credit')
    .description('add to (or, with a negative amount, deduct from) a balance; it never goes below zero')
    .requiredOption('--account <id>', 'account id')
    .requiredOption('--amount <amount>', 'decimal amount, negative to deduct')
    .action(async (options: { account: string; amount: string }) => {
      print(await withDb((db) => adjustBalance(db, options.account, options.amount, 'cli credit')));
    });

  const keys = program.command('keys').description('API keys');
  keys
    .command('create')
    .description('create another API key for an account (shown once)')
    .requiredOption('--account <id>', 'account id')
    .option('--scopes <list>', `comma-separated: ${SCOPES.join(', ')}`, DEFAULT_KEY_SCOPES.join(','))
    .option('--name <name>', 'a label shown in listings')
    .option('--origins <list>', 'comma-separated browser origins the key may be used from (default: any)')
    .action(async (options: { account: string; scopes: string; name?: string; origins?: string }) => {
      let scopes;
      try {
        scopes = parseScopes(options.scopes);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      const allowedOrigins = options.origins?.split(',').map((text) => {
        const origin = normaliseOrigin(text);
        if (!origin) throw new UsageError(`"${text}" is not an origin (scheme://host[:port])`);
        return origin;
      });
      print(await withDb((db) => createApiKey(db, options.account, { scopes, name: options.name, allowedOrigins })));
    });
  keys
    .command('revoke')
    .description('revoke an API key at once')
    .requiredOption('--key <apiKeyId>', 'the apiKeyId (not the key itself)')
    .action(async (options: { key: string }) => print(await withDb((db) => revokeApiKey(db, options.key))));

  program
    .command('send')
    .description('bulk send from a CSV file (phone column, optional message column, other columns fill {{placeholders}})')
    .requiredOption('--account <id>', 'account id')
    .requiredOption('--csv <file>', 'CSV file with a header row')
    .option('--message <text>', 'the text for every row (may hold {{placeholders}})')
    .action(async (options: { account: string; csv: string; message?: string }) => {
      const config = loadConfig();
      const progress = new SingleBar({ stream: process.stderr, format: 'sending {bar} {value}/{total} recipients' }, Presets.shades_classic);
      const result = await withDb(async (db) => {
        const caller = await callerOfAccount(db, options.account);
        if (!caller) throw new UsageError(`no account ${options.account}`);
        const bus = config.redisUrl ? createRedisBus(config.redisUrl, config.redisPrefix, pino({ level: 'silent' })) : createInProcessBus();
        const logger = pino({ level: 'silent' });
        const providers = createProviders(config, logger);
        // Routed as the gateway routes: on the measurements as they stand when the command starts.
        const router = new Router({ db, providers, logger, routes: config.routes }, config.routing);
        if (router.adaptive) await router.refresh();
        try {
          return await sendCsv({ db, bus, config, providers, router }, caller, options.csv, {
            message: options.message,
            onProgress: (done, total) => (done === 0 ? progress.start(total, 0) : progress.update(done)),
          });
        } finally {
          progress.stop();
          await bus.close();
        }
      });
      print(result);
    });

  program
    .command('optouts')
    .description("numbers an account does not send to")
    .command('import')
    .description('adds the numbers of a CSV file (a phone column) to the account\'s opt-outs')
    .requiredOption('--account <id>', 'account id')
    .requiredOption('--csv <file>', 'CSV file with a header row')
    .action(async (options: { account: string; csv: string }) => {
      const config = loadConfig();
      const { rows, phoneColumn } = await readPhoneCsv(options.csv);
      print(
        await withDb(async (db) => {
          const account = await db.account.findUnique({ where: { id: options.account }, select: { id: true } });
          if (!account) throw new UsageError(`no account ${options.account}`);
          return importOptOuts(db, account.id, rows.map((row) => row[phoneColumn]!), config.defaultCountry);
        }),
      );
    });

  const providers = program.command('providers').description('upstream providers');
  providers
    .command('status')
    .description("each provider: enabled, balance from its API, last error seen")
    .action(async () => {
      const config = loadConfig();
      print(await withDb((db) => providerStatus(config, db, pino({ level: 'silent' }))));
    });
  providers
    .command('callbacks')
    .description("each enabled provider that calls back: the URL, token included, to paste into its dashboard")
    .action(async () => {
      const config = loadConfig();
      print(await withDb((db) => providerCallbacks(config, db)));
    });

  const routing = program.command('routing').description('adaptive routing: pins and measurements');
  routing
    .command('pin')
    .description('send a destination through one provider whatever the measurements say (every gateway, within ROUTING_REFRESH_MS)')
    .requiredOption('--destination <destination>', 'a country code (TZ) or a network prefix (+25571)')
    .requiredOption('--provider <name>', 'the provider')
    .action(async (options: { destination: string; provider: string }) => {
      print(await withDb((db) => pinDestination(db, options.destination, options.provider)));
    });
  routing
    .command('unpin')
    .description('let the measurements decide a destination again')
    .requiredOption('--destination <destination>', 'a country code (TZ) or a network prefix (+25571)')
    .action(async (options: { destination: string }) => print(await withDb((db) => unpinDestination(db, options.destination))));
  routing
    .command('show')
    .description('per destination: providers, measurements over ROUTING_WINDOW_SECONDS, share of new traffic (as the `routes` query)')
    .action(async () => {
      const config = loadConfig();
      const logger = pino({ level: 'silent' });
      print(
        await withDb(async (db) => {
          const router = new Router({ db, providers: createProviders(config, logger), logger, routes: config.routes }, { ...config.routing, measure: true });
          await router.refresh();
          return router.routes();
        }),
      );
    });

  return program;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function runCli(argv: string[]): Promise<number> {
  try {
    for (const [i, arg] of argv.entries()) {
      if ((arg === '--account' || arg === '--key') && argv[i + 1] && !UUID.test(argv[i + 1]!)) {
        throw new UsageError(`${arg} takes an id such as 0193a4f2-...; got "${argv[i + 1]}"`);
      }
    }
    await buildCli().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    const known =
      error instanceof AccountError ||
      error instanceof UsageError ||
      error instanceof PinError ||
      error instanceof StartFailure;
    if (error instanceof GatewayError) {
      process.stderr.write(`error: ${error.code}: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`error: ${known ? (error as Error).message : String((error as Error)?.stack ?? error)}\n`);
    return known ? 2 : 1;
  }
}

process.exitCode = await runCli(process.argv.slice(2));
