import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { mifumo } from './mifumo/index.ts';
import { mimsms } from './mimsms/index.ts';
import { mtnCongo } from './mtn_congo/index.ts';
import { nextsms } from './nextsms/index.ts';
import type { ProviderModule } from './module.ts';
import { ProviderRegistry } from './registry.ts';
import { createSandboxProvider } from './sandbox/sandbox.ts';
import type { SmsProvider } from './types.ts';

/** Every upstream provider the gateway can talk to, in the order `providers status` lists them. */
export const PROVIDER_MODULES = [mifumo, mimsms, mtnCongo, nextsms] as unknown as ReadonlyArray<ProviderModule<unknown>>;

/** How a provider paces its requests: given its name, its own rate and quotas, a function taking one slot. */
export type PaceFor = (provider: string, defaultRatePerSecond: number, quotas: ReadonlyArray<{ requests: number; seconds: number }>) => () => Promise<void>;

/** The providers this process may route to: the sandbox, and every upstream whose credentials are set. */
export function createProviders(config: Config, logger: Logger, paceFor?: PaceFor, onUnknownStatus?: (provider: string) => void): ProviderRegistry {
  const providers: SmsProvider[] = [createSandboxProvider({ deliveryDelayMs: config.sandboxDeliveryDelayMs })];
  const disabled: string[] = [];
  for (const module of PROVIDER_MODULES) {
    const settings = module.configure(config.env);
    if (settings === undefined) {
      disabled.push(module.name);
      continue;
    }
    let capabilities: SmsProvider['capabilities'] | undefined;
    const provider = module.create(settings, {
      logger: logger.child({ provider: module.name }),
      timeoutMs: config.providerTimeoutMs,
      ...(paceFor ? { pace: () => paceFor(module.name, capabilities?.maxRequestsPerSecond ?? 1, capabilities?.quotas ?? [])() } : {}),
      ...(onUnknownStatus ? { onUnknownStatus: () => onUnknownStatus(module.name) } : {}),
    });
    capabilities = provider.capabilities;
    providers.push(provider);
  }
  logger.info({ enabled: providers.map((p) => p.name), disabled }, 'providers');
  if (disabled.length > 0) logger.info(`disabled until their credentials are set: ${disabled.join(', ')}`);
  if (providers.length === 1) logger.warn('no upstream provider is configured: live messages go to the sandbox');
  return new ProviderRegistry(providers);
}
