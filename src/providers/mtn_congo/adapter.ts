import type { ProviderDeps, SmsProvider } from '../types.ts';

export type MtnCongoConfig = { baseUrl: string; token: string };

export function createMtnCongoProvider(_config: MtnCongoConfig, _deps: ProviderDeps): SmsProvider {
  throw new Error('MTN Congo adapter: not implemented yet');
}
