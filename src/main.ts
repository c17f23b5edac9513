// `npm start`: opens the database (the one DATABASE_URL names, or the embedded one in DATA_DIR),
// applies pending migrations, then serves.
import { buildApp, type App } from './app.ts';
import { loadConfig } from './config.ts';
import { openDatabase, type OpenedDatabase } from './db/open.ts';
import { createLogger } from './logger.ts';
import { StartFailure } from './shared/start-failure.ts';

const config = (() => {
  try {
    return loadConfig();
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    process.exit(1);
  }
})();
const logger = createLogger(config.logLevel);

if (!config.redisUrl) {
  logger.warn('REDIS_URL is not set: live updates use in-process pub/sub, so run a single instance only');
}

let database: OpenedDatabase | undefined;
let app: App | undefined;

async function start(): Promise<void> {
  database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, role: 'gateway', logger });
  if (stopping) return;
  app = buildApp({ ...config, databaseUrl: database.url }, logger);
  await app.start();
}

let stopping = false;
const starting = start().catch(async (error: unknown) => {
  if (error instanceof StartFailure) {
    // What to do fits on one line; a stack trace would only hide it.
    process.stderr.write(`error: ${error.message}\n`);
  } else {
    logger.fatal({ err: error }, 'the gateway could not start');
  }
  await database?.close().catch(() => undefined);
  process.exit(1);
});

// Every signal is caught, not only the first: under `npm start` one stop often arrives twice (to
// the process group, and again from npm passing it on), and a second left to its default action
// would kill the gateway half-way through stopping.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // A signal during start-up waits for it, so nothing half-started is left behind.
    starting
      .then(async () => {
        await app?.stop();
        await database?.close();
      })
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  });
}
