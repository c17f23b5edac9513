import type { ProviderModule } from '../module.ts';
import { createMtnCongoProvider, type MtnCongoConfig } from './adapter.ts';
import { createMtnCongoSimulator } from './simulator.ts';

export const mtnCongo: ProviderModule<MtnCongoConfig> = {
  name: 'mtn_congo',
  configure(env) {
    const token = env.MTN_CONGO_TOKEN?.trim();
    if (!token) return undefined;
    return { baseUrl: env.MTN_CONGO_BASE_URL?.trim() || 'https://sms.mtncongo.net', token };
  },
  create: createMtnCongoProvider,
  createSimulator: (config, options) => createMtnCongoSimulator(config, options),
  environment: (config, baseUrl) => ({ MTN_CONGO_BASE_URL: baseUrl, MTN_CONGO_TOKEN: config.token }),
  simulatorConfig: { baseUrl: 'http://127.0.0.1', token: 'sim-mtn-congo-token' },
};
