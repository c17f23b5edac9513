import type { ProviderDeps, SmsProvider } from '../types.ts';

export type NextsmsConfig = { baseUrl: string; username: string; password: string };

export function createNextsmsProvider(_config: NextsmsConfig, _deps: ProviderDeps): SmsProvider {
  throw new Error('NextSMS adapter: not implemented yet');
}
