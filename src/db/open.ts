import type { Logger } from '../logger.ts';
import { prepareDatabase } from './bootstrap.ts';
import { claimDataDir, type DataDirRole } from './embedded/data-dir.ts';
import { unreachable } from './embedded/reach.ts';
import { runningServerUrl, startEmbeddedPostgres } from './embedded/server.ts';
import { asUnreachable } from './unreachable.ts';

/** The database of the embedded server. */
const EMBEDDED_DATABASE = 'sms_gateway';

export type OpenedDatabase = {
  /** Connection string, credentials included: never log it. */
  url: string;
  /** Stops the embedded server when this process started it; otherwise nothing. */
  close(): Promise<void>;
};

/**
 * The gateway's database, created and migrated: the server DATABASE_URL names, or, with none,
 * an embedded PostgreSQL kept in DATA_DIR (shared with a gateway already running there).
 */
export async function openDatabase(options: {
  databaseUrl: string | undefined;
  dataDir: string;
  role: DataDirRole;
  logger: Logger;
}): Promise<OpenedDatabase> {
  const { databaseUrl, dataDir, role, logger } = options;
  if (databaseUrl) {
    try {
      await prepareDatabase(databaseUrl, logger);
    } catch (error) {
      throw asUnreachable(error, databaseUrl, dataDir);
    }
    return { url: databaseUrl, close: async () => undefined };
  }

  const access = await claimDataDir(dataDir, role, (owner) =>
    logger.info({ dataDir, pid: owner.pid, owner: owner.role }, `waiting for the ${owner.role} using DATA_DIR`),
  );
  if ('runningServerPort' in access) {
    const url = await runningServerUrl(dataDir, access.runningServerPort, EMBEDDED_DATABASE);
    await prepareDatabase(url, logger);
    return { url, close: async () => undefined };
  }
  const { claim } = access;
  let server: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  try {
    server = await startEmbeddedPostgres({ dataDir, logger });
    await claim.publishPort(server.port);
    const url = server.url(EMBEDDED_DATABASE);
    await prepareDatabase(url, logger);
    const elsewhere = server.home === dataDir ? '' : `, because ${unreachable(dataDir)}`;
    logger.info(
      { dataDir, postgresData: server.home, postgres: `127.0.0.1:${server.port}`, version: server.version },
      `DATABASE_URL is not set: using the embedded PostgreSQL ${server.version}, its data kept in ${server.home}${elsewhere}; ` +
        'set DATABASE_URL=postgresql://user:password@host:5432/sms_gateway to use your own server instead',
    );
    const running = server;
    return {
      url,
      async close() {
        await running.stop();
        claim.release();
      },
    };
  } catch (error) {
    await server?.stop().catch(() => undefined);
    claim.release();
    throw error;
  }
}
