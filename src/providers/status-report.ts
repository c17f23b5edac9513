import type { Config } from '../config.ts';
import type { Db } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import { PROVIDER_MODULES } from './index.ts';
import { resolveCallbackSecret } from '../callbacks/secret.ts';
import { callbackBase, callbackUrl } from '../callbacks/urls.ts';
import { pino } from 'pino';

export type ProviderStatusLine = {
  provider: string;
  enabled: boolean;
  balance: { amount: string; currency: string } | null;
  balanceError: string | null;
  lastError: { message: string; at: string } | null;
  lastSuccessAt: string | null;
};

/** Each upstream provider: enabled or not, its balance as its API reports it, and the last error the dispatcher saw. */
export async function providerStatus(config: Config, db: Db, logger: Logger): Promise<ProviderStatusLine[]> {
  const states = new Map((await db.providerState.findMany()).map((s) => [s.name, s]));
  return Promise.all(
    PROVIDER_MODULES.map(async (module): Promise<ProviderStatusLine> => {
      const settings = module.configure(config.env);
      const state = states.get(module.name);
      const line: ProviderStatusLine = {
        provider: module.name,
        enabled: settings !== undefined,
        balance: null,
        balanceError: settings === undefined ? 'disabled: credentials are not set' : null,
        lastError: state?.lastError && state.lastErrorAt ? { message: state.lastError, at: state.lastErrorAt.toISOString() } : null,
        lastSuccessAt: state?.lastSuccessAt?.toISOString() ?? null,
      };
      if (settings !== undefined) {
        try {
          line.balance = await module.create(settings, { logger, timeoutMs: config.providerTimeoutMs }).fetchBalance();
        } catch (error) {
          line.balanceError = (error as Error).message;
        }
      }
      return line;
    }),
  );
}

/**
 * Each enabled provider that reports by calling back, with the URL it must call: PUBLIC_URL (or
 * this machine at PORT) and the callback token, the one CALLBACK_SECRET sets or the gateway
 * generated and stored.
 */
export async function providerCallbacks(config: Config, db: Db): Promise<Array<{ provider: string; url: string }>> {
  const secret = await resolveCallbackSecret(db, config.callbackSecret);
  const base = callbackBase(config.publicUrl, config.port);
  const silent = pino({ level: 'silent' });
  return PROVIDER_MODULES.flatMap((module) => {
    const settings = module.configure(config.env);
    if (settings === undefined) return [];
    const adapter = module.create(settings, { logger: silent, timeoutMs: config.providerTimeoutMs });
    return adapter.capabilities.reports === 'callback' && adapter.parseCallback ? [{ provider: module.name, url: callbackUrl(base, module.name, secret) }] : [];
  });
}
