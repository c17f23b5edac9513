import type { ProviderDeps, SmsProvider } from '../types.ts';

export type MimsmsConfig = { baseUrl: string; apiKey: string; username: string; password: string };

export function createMimsmsProvider(_config: MimsmsConfig, _deps: ProviderDeps): SmsProvider {
  throw new Error('MiM SMS adapter: not implemented yet');
}
