import type { ProviderModule } from '../module.ts';
import { createMifumoProvider, type MifumoConfig } from './adapter.ts';
import { createMifumoSimulator } from './simulator.ts';

export const mifumo: ProviderModule<MifumoConfig> = {
  name: 'mifumo',
  configure(env) {
    const apiKey = env.MIFUMO_API_KEY?.trim();
    if (!apiKey) return undefined;
    return { baseUrl: env.MIFUMO_BASE_URL?.trim() || 'https://mifumosms.servehttp.com', apiKey };
  },
  create: createMifumoProvider,
  createSimulator: (config, options) => createMifumoSimulator(config, options),
  environment: (config, baseUrl) => ({ MIFUMO_BASE_URL: baseUrl, MIFUMO_API_KEY: config.apiKey }),
  simulatorConfig: { baseUrl: 'http://127.0.0.1', apiKey: 'sim-mifumo-key' },
};
