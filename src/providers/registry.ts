import type { SmsProvider } from './types.ts';

export class ProviderRegistry {
  private readonly byName = new Map<string, SmsProvider>();
  /** Providers that answered "insufficient credit", until their balance is read above the threshold again. */
  private readonly outOfCredit = new Set<string>();

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

  isOutOfCredit(name: string): boolean {
    return this.outOfCredit.has(name);
  }

  /** Returns whether this is news (it was not known to be out of credit). */
  markOutOfCredit(name: string): boolean {
    if (this.outOfCredit.has(name)) return false;
    this.outOfCredit.add(name);
    return true;
  }

  /** Returns whether it had been out of credit. */
  creditRestored(name: string): boolean {
    return this.outOfCredit.delete(name);
  }
}
