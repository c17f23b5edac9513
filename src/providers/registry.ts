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

  enabledNames(): string[] {
    return [...this.byName.keys()];
  }

  all(): SmsProvider[] {
    return [...this.byName.values()];
  }
}
