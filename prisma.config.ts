// Prisma CLI configuration. The CLI normally downloads native engines from Prisma's CDN, which
// a firewalled machine cannot reach; with `engine: "js"` it runs the WebAssembly schema engine
// shipped in the npm package through the pg driver adapter instead.
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import { defineConfig } from 'prisma/config';
import { databaseUrl } from './src/db/database-url.ts';

// The CLI skips its engine download when these name an existing file; with `engine: "js"` it
// never runs them.
process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;
process.env.PRISMA_QUERY_ENGINE_LIBRARY ??= process.execPath;
// The gateway always passes DATABASE_URL; this default serves a developer running the CLI by hand.
process.env.DATABASE_URL = databaseUrl() ?? 'postgresql://postgres@127.0.0.1:5432/sms_gateway';
// No telemetry or update checks: the machine may have no route to the internet.
process.env.CHECKPOINT_DISABLE ??= '1';

const PG_CHAR_OID = 18;
const PG_NAME_OID = 19;
const PG_TEXT_OID = 25;

type RowDescription = { fields: Array<{ dataTypeID: number }> };
type Queryable = { performIO(query: unknown): Promise<RowDescription> };

// The schema engine reads pg_catalog columns of type "char" and name, which the adapter refuses
// to map; they are plain text, so report them as text.
function readCatalogTypesAsText<T extends object>(queryable: T): T {
  const target = queryable as unknown as Queryable;
  const performIO = target.performIO.bind(target);
  target.performIO = async (query) => {
    const result = await performIO(query);
    for (const field of result.fields ?? []) {
      if (field.dataTypeID === PG_CHAR_OID || field.dataTypeID === PG_NAME_OID) {
        field.dataTypeID = PG_TEXT_OID;
      }
    }
    return result;
  };
  const withTransactions = queryable as unknown as { startTransaction?: (...a: unknown[]) => Promise<object> };
  const startTransaction = withTransactions.startTransaction?.bind(queryable);
  if (startTransaction) {
    withTransactions.startTransaction = async (...args) => readCatalogTypesAsText(await startTransaction(...args));
  }
  return queryable;
}

type ScriptRunner = { executeScript(script: string): Promise<void>; client: { query(sql: string): Promise<unknown> }; onError(error: unknown): never };

// The adapter splits a migration script at every ";", which breaks a function body written in
// it; PostgreSQL takes the whole script in one go (and runs it as one transaction).
function runScriptsWhole<T extends object>(adapter: T): T {
  const target = adapter as unknown as ScriptRunner;
  target.executeScript = async (script) => {
    try {
      await target.client.query(script);
    } catch (error) {
      target.onError(error);
    }
  };
  return adapter;
}

export default defineConfig({
  schema: path.join('prisma', 'schema.prisma'),
  migrations: { path: path.join('prisma', 'migrations') },
  engine: 'js',
  experimental: { adapter: true },
  async adapter() {
    const factory = new PrismaPg({ connectionString: process.env.DATABASE_URL, allowExitOnIdle: true, idleTimeoutMillis: 100 });
    return {
      provider: factory.provider,
      adapterName: factory.adapterName,
      connect: async () => runScriptsWhole(readCatalogTypesAsText(await factory.connect())),
      connectToShadowDb: async () => readCatalogTypesAsText(await factory.connectToShadowDb()),
    };
  },
});
