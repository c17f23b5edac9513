import type { SimulatorOptions, SimulatorServer } from './simulator/server.ts';
import type { ProviderDeps, ProviderName, SmsProvider } from './types.ts';

/**
 * Everything the gateway knows about one upstream provider, from its folder: how to read its
 * configuration, how to build its adapter, and how to build its simulator.
 */
export type ProviderModule<Config> = {
  name: Exclude<ProviderName, 'sandbox'>;
  /** Its configuration from the environment; undefined (disabled) while credentials are missing. */
  configure(env: NodeJS.ProcessEnv): Config | undefined;
  create(config: Config, deps: ProviderDeps): SmsProvider;
  /** A faithful fake of the provider's API, accepting the credentials of `config`. */
  createSimulator(config: Config, options?: SimulatorOptions): SimulatorServer;
  /** Environment for a gateway that should use a simulator at `baseUrl` with `config`'s credentials. */
  environment(config: Config, baseUrl: string): Record<string, string>;
  /** Credentials the simulators accept by default (`npm run simulators`). */
  simulatorConfig: Config;
};
