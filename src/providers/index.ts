import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { ProviderRegistry } from './registry.ts';
import { createSandboxProvider } from './sandbox/sandbox.ts';

/** The providers this process may route to: the sandbox, and every upstream whose credentials are set. */
export function createProviders(config: Config, logger: Logger): ProviderRegistry {
  const providers = [createSandboxProvider({ deliveryDelayMs: config.sandboxDeliveryDelayMs })];
  logger.info({ providers: providers.map((p) => p.name) }, 'providers enabled');
  return new ProviderRegistry(providers);
}
