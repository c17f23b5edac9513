import type { SmsProvider } from './types.ts';

export class ProviderRegistry {
  private readonly byName = new Map<string, SmsProvider>();

  constructor(providers: SmsProvider[]) {
    for (const provider of providers) this.byName.set(provider.name, provider);
  }

  get(name: string): SmsProvider | undefined {
    return this.byName.get(name);
  }

  isEnabled(name: string): boolean {
    return this.byName.has(name);
  }

  /** Whether any real upstream provider is configured (not only the sandbox). */
  hasUpstream(): boolean {
    return [...this.byName.keys()].some((name) => name !== 'sandbox');
  }

  enabledNames(): string[] {
    return [...this.byName.keys()];
  }

  all(): SmsProvider[] {
    return [...this.byName.values()];
  }
}
