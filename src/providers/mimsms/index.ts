import type { ProviderModule } from '../module.ts';
import { createMimsmsProvider, type MimsmsConfig } from './adapter.ts';
import { createMimsmsSimulator } from './simulator.ts';

export const mimsms: ProviderModule<MimsmsConfig> = {
  name: 'mimsms',
  configure(env) {
    const apiKey = env.MIMSMS_API_KEY?.trim();
    const username = env.MIMSMS_USERNAME?.trim();
    const password = env.MIMSMS_PASSWORD;
    if (!apiKey || !username || !password) return undefined;
    return { baseUrl: env.MIMSMS_BASE_URL?.trim() || 'https://api.mimsms.com', apiKey, username, password };
  },
  create: createMimsmsProvider,
  createSimulator: (config, options) => createMimsmsSimulator(config, options),
  environment: (config, baseUrl) => ({
    MIMSMS_BASE_URL: baseUrl,
    MIMSMS_API_KEY: config.apiKey,
    MIMSMS_USERNAME: config.username,
    MIMSMS_PASSWORD: config.password,
  }),
  simulatorConfig: { baseUrl: 'http://127.0.0.1', apiKey: 'sim-mimsms-key', username: 'simuser', password: 'sim-pass' },
};
