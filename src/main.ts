// `npm start`: prepares the database (creates it, applies migrations), then serves.
import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';
import { prepareDatabase } from './db/bootstrap.ts';
import { createLogger } from './logger.ts';

const config = loadConfig();
const logger = createLogger(config.logLevel);

if (!config.redisUrl) {
  logger.warn('REDIS_URL is not set: live updates use in-process pub/sub, so run a single instance only');
}

await prepareDatabase(config.databaseUrl, logger);
const app = buildApp(config, logger);
await app.start();

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    app
      .stop()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  });
}
