import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { DEFAULT_RATE_LIMITS, type RateLimits } from './accounts/rate-limits.ts';
import { databaseUrl } from './db/database-url.ts';
import { ROUTING_MODES, type RoutingSettings } from './routing/settings.ts';

const decimalString = z.string().regex(/^\d+(\.\d{1,4})?$/, 'a non-negative decimal with at most 4 places');

/** Price of one SMS segment, per currency, by destination region (ISO 3166 alpha-2) with a default. */
const priceTableSchema = z.record(
  z.string().regex(/^[A-Z]{3}$/),
  z.object({ default: decimalString }).catchall(decimalString),
);

/** Ordered providers per destination region, with a default route. */
const routeTableSchema = z.object({ default: z.array(z.string()).min(1) }).catchall(z.array(z.string()).min(1));

const DEFAULT_DATA_DIR = fileURLToPath(new URL('../.data', import.meta.url));

export const DEFAULT_PRICE_TABLE = {
  USD: { default: '0.0500', TZ: '0.0200', BD: '0.0150', CG: '0.0300' },
  TZS: { default: '120.0000', TZ: '25.0000' },
  BDT: { default: '5.0000', BD: '0.5000' },
} satisfies z.infer<typeof priceTableSchema>;

/**
 * Providers to try per destination, in order; disabled ones are skipped. Mifumo, an aggregator
 * that takes any E.164 number, is the fallback everywhere.
 */
export const DEFAULT_ROUTES = {
  default: ['mifumo'],
  TZ: ['mifumo', 'nextsms'],
  BD: ['mimsms', 'mifumo'],
  CG: ['mtn_congo', 'mifumo'],
} satisfies z.infer<typeof routeTableSchema>;

function json<T extends z.ZodType>(schema: T) {
  return z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'not valid JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().default('0.0.0.0'),
  DATABASE_URL: z.string().optional(),
  DATA_DIR: z.string().optional(),
  REDIS_URL: z.string().optional(),
  REDIS_PREFIX: z.string().regex(/^[\w.-]+$/).default('sms-gateway'),
  PUBLIC_URL: z.string().url().optional(),
  CALLBACK_SECRET: z.string().min(16).optional(),
  DEFAULT_COUNTRY: z.string().regex(/^[A-Z]{2}$/).default('TZ'),
  DEFAULT_SENDER_ID: z.string().default('SMSGateway'),
  DEFAULT_CURRENCY: z.string().regex(/^[A-Z]{3}$/).default('USD'),
  PRICE_TABLE: json(priceTableSchema).optional(),
  ROUTES: json(routeTableSchema).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  NODE_ENV: z.string().default('development'),
  SANDBOX_DELIVERY_DELAY_MS: z.coerce.number().int().min(0).default(1000),
  DISPATCH_POLL_INTERVAL_MS: z.coerce.number().int().min(10).default(200),
  DISPATCH_BATCH_SIZE: z.coerce.number().int().min(1).max(5000).default(500),
  DISPATCH_LEASE_MS: z.coerce.number().int().min(1000).default(30_000),
  DISPATCH_CONCURRENCY: z.coerce.number().int().min(1).max(16).default(3),
  DISPATCH_GATHER_MS: z.coerce.number().int().min(0).max(1000).default(20),
  DISPATCHER: z.enum(['on', 'off']).default('on'),
  DB_POOL_SIZE: z.coerce.number().int().min(2).default(10),
  PROVIDER_TIMEOUT_MS: z.coerce.number().int().min(50).default(10_000),
  REPORT_POLL_AFTER_MS: z.coerce.number().int().min(10).optional(),
  CALLBACK_SAFETY_POLL_MS: z.coerce.number().int().min(10).optional(),
  PROVIDER_RATES: json(z.record(z.string(), z.number().positive())).optional(),
  RATE_LIMITS: json(z.object({ send: z.number().int().min(1), status: z.number().int().min(1), reports: z.number().int().min(1), balance: z.number().int().min(1), admin: z.number().int().min(1), tokens: z.number().int().min(1) }).partial()).optional(),
  WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: z.coerce.number().int().min(1).default(20),
  WS_MAX_CONNECTIONS_PER_KEY: z.coerce.number().int().min(1).default(20),
  WS_CONNECTION_INIT_TIMEOUT_MS: z.coerce.number().int().min(100).default(5000),
  WS_KEEPALIVE_MS: z.coerce.number().int().min(100).default(15_000),
  WS_MAX_BUFFERED_BYTES: z.coerce.number().int().min(1024).default(4 * 1024 * 1024),
  KEY_REVOCATION_CHECK_MS: z.coerce.number().int().min(100).default(2000),
  LIVE_FEED_AUDIT_MS: z.coerce.number().int().min(100).default(5000),
  REPORT_COUNT_CAP: z.coerce.number().int().min(1).default(100_000),
  EVENT_RETENTION_DAYS: z.coerce.number().int().min(1).default(30),
  MESSAGE_RETENTION_DAYS: z.coerce.number().int().min(1).default(365),
  DISPATCH_RETRY_BASE_MS: z.coerce.number().int().min(1).optional(),
  DISPATCH_MAX_SUBMIT_ATTEMPTS: z.coerce.number().int().min(1).optional(),
  PROVIDER_BALANCE_WARN_THRESHOLD: z.union([decimalString, json(z.record(z.string(), decimalString))]).optional(),
  PROVIDER_BALANCE_CHECK_MS: z.coerce.number().int().min(0).default(5 * 60_000),
  WEBHOOK_ALLOW_PRIVATE_URLS: z.enum(['0', '1']).default('0'),
  WEBHOOK_SECRET_KEY: z.string().min(16).optional(),
  TOKEN_SIGNING_KEY: z.string().min(32).optional(),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(1).default(5000),
  WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).default(11),
  WEBHOOK_CONCURRENCY_PER_ENDPOINT: z.coerce.number().int().min(1).max(100).default(4),
  WEBHOOK_LEASE_MS: z.coerce.number().int().min(1000).default(60_000),
  WEBHOOK_POLL_INTERVAL_MS: z.coerce.number().int().min(10).default(250),
  ROUTING_MODE: z.enum(ROUTING_MODES).default('static'),
  ROUTING_WINDOW_SECONDS: z.coerce.number().int().min(60).default(900),
  ROUTING_MIN_REPORTS: z.coerce.number().int().min(1).default(50),
  ROUTING_EXPLORATION: z.coerce.number().min(0).max(0.5).default(0.05),
  ROUTING_LATENCY_BOUND_SECONDS: z.coerce.number().positive().default(300),
  ROUTING_RATIO_TOLERANCE: z.coerce.number().min(0).max(1).default(0.1),
  ROUTING_MEASURE: z.enum(['on', 'off']).optional(),
  ROUTING_REFRESH_MS: z.coerce.number().int().min(50).default(5000),
  ROUTING_COUNT_DELAY_MS: z.coerce.number().int().min(0).default(5000),
  ROUTING_SEED: z.coerce.number().int().optional(),
  ROUTING_PREFIX_DIGITS: z.coerce.number().int().min(1).max(4).default(2),
  PROVIDER_PRICES: json(z.record(z.string(), z.record(z.string().regex(/^([A-Z]{2}|default)$/), decimalString))).optional(),
}).refine((e) => e.DISPATCH_LEASE_MS > e.PROVIDER_TIMEOUT_MS, {
  // A claim that lapses while its submission is being made lets another dispatcher make it again.
  path: ['DISPATCH_LEASE_MS'],
  message: 'must be longer than PROVIDER_TIMEOUT_MS: a claim must outlast the provider call it covers',
});

export type Config = {
  port: number;
  host: string;
  /** Unset: an embedded PostgreSQL kept in `dataDir` (see db/open.ts). */
  databaseUrl: string | undefined;
  /** Where the embedded PostgreSQL, and anything else the gateway keeps on disk, lives. */
  dataDir: string;
  redisUrl: string | undefined;
  /** Namespace of every Redis key and channel: instances of one gateway share it. */
  redisPrefix: string;
  publicUrl: string | undefined;
  callbackSecret: string | undefined;
  defaultCountry: string;
  defaultSenderId: string;
  defaultCurrency: string;
  priceTable: z.infer<typeof priceTableSchema>;
  routes: z.infer<typeof routeTableSchema>;
  logLevel: string;
  production: boolean;
  sandboxDeliveryDelayMs: number;
  dispatch: { pollIntervalMs: number; batchSize: number; leaseMs: number; concurrency: number; gatherMs: number; enabled: boolean };
  dbPoolSize: number;
  providerTimeoutMs: number;
  /** First status poll after submission for providers without callbacks, instead of their own default. */
  reportPollAfterMs: number | undefined;
  /** When a provider that calls back is asked for a report that has not come (default: its own). */
  callbackSafetyPollMs: number | undefined;
  /** Requests per second per provider, where an agreement with it differs from its default. */
  providerRates: Record<string, number>;
  /** Requests per minute per API key and operation class. */
  rateLimits: RateLimits;
  websocket: {
    maxSubscriptionsPerConnection: number;
    maxConnectionsPerKey: number;
    connectionInitTimeoutMs: number;
    keepAliveMs: number;
    /** Bytes written to a socket and not yet taken by its peer beyond which the peer is dropped as too slow. */
    maxBufferedBytes: number;
    revocationCheckMs: number;
    /** How often live feeds are checked against the event log for lost publishes. */
    feedAuditMs: number;
  };
  retry: { baseDelayMs?: number; maxSubmitAttempts?: number };
  /** Balance warning threshold per provider (in its own unit), and how often balances are read (0: never). */
  providerBalances: { thresholds: { all?: string; byProvider: Record<string, string> }; checkIntervalMs: number };
  history: {
    /** A report count that would read more entries stops here and says so (see deliveries/reports.ts). */
    reportCountCap: number;
    /** Days the event log (replay window), attempts and raw provider payloads are kept. */
    eventRetentionDays: number;
    /** Days final messages and their deliveries are kept; never less than the event window. */
    messageRetentionDays: number;
  };
  webhooks: WebhookConfig;
  /** Signs access tokens; unset: one generated and stored in the database (see accounts/access-tokens.ts). */
  tokenSigningKey: string | undefined;
  routing: RoutingSettings;
  env: NodeJS.ProcessEnv;
};

export type WebhookConfig = {
  /** Endpoints on loopback, private and link-local addresses (development and tests). */
  allowPrivateUrls: boolean;
  /** Encrypts signing secrets at rest; unset: one generated and stored in the database (see webhooks/secrets.ts). */
  secretKey: string | undefined;
  timeoutMs: number;
  /** First retry after about this long; each next one waits four times longer, up to 8 h. */
  retryBaseMs: number;
  /** Requests per event and endpoint before it is given up (the default spans about 31 h). */
  maxAttempts: number;
  /** Requests in flight per endpoint in one process. */
  concurrencyPerEndpoint: number;
  leaseMs: number;
  pollIntervalMs: number;
};

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: databaseUrl(env),
    dataDir: path.resolve(e.DATA_DIR?.trim() || DEFAULT_DATA_DIR),
    redisUrl: e.REDIS_URL?.trim() || undefined,
    redisPrefix: e.REDIS_PREFIX,
    publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    callbackSecret: e.CALLBACK_SECRET,
    defaultCountry: e.DEFAULT_COUNTRY,
    defaultSenderId: e.DEFAULT_SENDER_ID,
    defaultCurrency: e.DEFAULT_CURRENCY,
    priceTable: e.PRICE_TABLE ?? DEFAULT_PRICE_TABLE,
    routes: e.ROUTES ?? DEFAULT_ROUTES,
    logLevel: e.LOG_LEVEL,
    production: e.NODE_ENV === 'production',
    sandboxDeliveryDelayMs: e.SANDBOX_DELIVERY_DELAY_MS,
    dispatch: {
      pollIntervalMs: e.DISPATCH_POLL_INTERVAL_MS,
      batchSize: e.DISPATCH_BATCH_SIZE,
      leaseMs: e.DISPATCH_LEASE_MS,
      concurrency: e.DISPATCH_CONCURRENCY,
      gatherMs: e.DISPATCH_GATHER_MS,
      enabled: e.DISPATCHER === 'on',
    },
    dbPoolSize: e.DB_POOL_SIZE,
    providerTimeoutMs: e.PROVIDER_TIMEOUT_MS,
    reportPollAfterMs: e.REPORT_POLL_AFTER_MS,
    callbackSafetyPollMs: e.CALLBACK_SAFETY_POLL_MS,
    providerRates: e.PROVIDER_RATES ?? {},
    rateLimits: { ...DEFAULT_RATE_LIMITS, ...e.RATE_LIMITS },
    websocket: {
      maxSubscriptionsPerConnection: e.WS_MAX_SUBSCRIPTIONS_PER_CONNECTION,
      maxConnectionsPerKey: e.WS_MAX_CONNECTIONS_PER_KEY,
      connectionInitTimeoutMs: e.WS_CONNECTION_INIT_TIMEOUT_MS,
      keepAliveMs: e.WS_KEEPALIVE_MS,
      maxBufferedBytes: e.WS_MAX_BUFFERED_BYTES,
      revocationCheckMs: e.KEY_REVOCATION_CHECK_MS,
      feedAuditMs: e.LIVE_FEED_AUDIT_MS,
    },
    retry: {
      ...(e.DISPATCH_RETRY_BASE_MS ? { baseDelayMs: e.DISPATCH_RETRY_BASE_MS } : {}),
      ...(e.DISPATCH_MAX_SUBMIT_ATTEMPTS ? { maxSubmitAttempts: e.DISPATCH_MAX_SUBMIT_ATTEMPTS } : {}),
    },
    providerBalances: {
      thresholds:
        typeof e.PROVIDER_BALANCE_WARN_THRESHOLD === 'string'
          ? { all: e.PROVIDER_BALANCE_WARN_THRESHOLD, byProvider: {} }
          : { byProvider: e.PROVIDER_BALANCE_WARN_THRESHOLD ?? {} },
      checkIntervalMs: e.PROVIDER_BALANCE_CHECK_MS,
    },
    history: {
      reportCountCap: e.REPORT_COUNT_CAP,
      eventRetentionDays: e.EVENT_RETENTION_DAYS,
      messageRetentionDays: Math.max(e.MESSAGE_RETENTION_DAYS, e.EVENT_RETENTION_DAYS),
    },
    webhooks: {
      allowPrivateUrls: e.WEBHOOK_ALLOW_PRIVATE_URLS === '1',
      secretKey: e.WEBHOOK_SECRET_KEY,
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      retryBaseMs: e.WEBHOOK_RETRY_BASE_MS,
      maxAttempts: e.WEBHOOK_MAX_ATTEMPTS,
      concurrencyPerEndpoint: e.WEBHOOK_CONCURRENCY_PER_ENDPOINT,
      leaseMs: e.WEBHOOK_LEASE_MS,
      pollIntervalMs: e.WEBHOOK_POLL_INTERVAL_MS,
    },
    tokenSigningKey: e.TOKEN_SIGNING_KEY,
    routing: {
      mode: e.ROUTING_MODE,
      measure: e.ROUTING_MODE === 'adaptive' || e.ROUTING_MEASURE === 'on',
      windowSeconds: e.ROUTING_WINDOW_SECONDS,
      minReports: e.ROUTING_MIN_REPORTS,
      exploration: e.ROUTING_EXPLORATION,
      latencyBoundSeconds: e.ROUTING_LATENCY_BOUND_SECONDS,
      ratioTolerance: e.ROUTING_RATIO_TOLERANCE,
      refreshMs: e.ROUTING_REFRESH_MS,
      countDelayMs: e.ROUTING_COUNT_DELAY_MS,
      seed: e.ROUTING_SEED,
      prefixDigits: e.ROUTING_PREFIX_DIGITS,
      providerPrices: e.PROVIDER_PRICES ?? {},
    },
    env,
  };
}
