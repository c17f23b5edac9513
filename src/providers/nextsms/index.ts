import type { ProviderModule } from '../module.ts';
import { createNextsmsProvider, type NextsmsConfig } from './adapter.ts';
import { createNextsmsSimulator } from './simulator.ts';

export const nextsms: ProviderModule<NextsmsConfig> = {
  name: 'nextsms',
  configure(env) {
    const username = env.NEXTSMS_USERNAME?.trim();
    const password = env.NEXTSMS_PASSWORD;
    if (!username || !password) return undefined;
    return { baseUrl: env.NEXTSMS_BASE_URL?.trim() || 'https://messaging-service.co.tz', username, password };
  },
  create: createNextsmsProvider,
  createSimulator: (config, options) => createNextsmsSimulator(config, options),
  environment: (config, baseUrl) => ({ NEXTSMS_BASE_URL: baseUrl, NEXTSMS_USERNAME: config.username, NEXTSMS_PASSWORD: config.password }),
  simulatorConfig: { baseUrl: 'http://127.0.0.1', username: 'simuser', password: 'sim-pass' },
};
