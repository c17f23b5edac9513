import type { Metrics } from '../http/metrics.ts';
import type { Logger } from '../logger.ts';
import { Decimal } from '../messages/money.ts';
import type { ProviderRegistry } from './registry.ts';
import type { SmsProvider } from './types.ts';

export type BalanceOptions = {
  /** How often each balance is read; 0: never. */
  intervalMs: number;
  /** Below this a provider's balance is warned about; above it, a provider out of credit is routed to again. */
  thresholdFor: (provider: string) => string | undefined;
};

/**
 * Reads the balance of every enabled upstream that has a balance endpoint, now and then: into
 * `sms_gateway_provider_balance`, a warning in the log while it is below the threshold, and a
 * provider that had answered "insufficient credit" back in routing once it is above it.
 */
export class BalanceMonitor {
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;

  constructor(
    private readonly deps: { providers: ProviderRegistry; metrics: Metrics; logger: Logger },
    private readonly options: BalanceOptions,
  ) {}

  start(): void {
    if (this.options.intervalMs <= 0 || this.timer) return;
    void this.readAll();
    this.timer = setInterval(() => void this.readAll(), this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.reading;
  }

  /** One read of every balance (a read still under way is not started twice). */
  readAll(): Promise<void> {
    this.reading ??= Promise.all(
      this.deps.providers
        .all()
        .filter((provider) => provider.name !== 'sandbox' && provider.capabilities.balance)
        .map((provider) => this.read(provider)),
    )
      .then(() => undefined)
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }

  private async read(provider: SmsProvider): Promise<void> {
    const { logger, metrics, providers } = this.deps;
    let balance;
    try {
      balance = await provider.fetchBalance();
    } catch (error) {
      logger.warn({ provider: provider.name, err: error }, 'could not read the provider balance');
      return;
    }
    metrics.providerBalance.set({ provider: provider.name, currency: balance.currency }, Number(balance.amount));
    const configured = this.options.thresholdFor(provider.name);
    const threshold = new Decimal(configured ?? '0');
    const amount = new Decimal(balance.amount);
    if (configured !== undefined && amount.lt(threshold)) {
      logger.warn({ provider: provider.name, balance: balance.amount, currency: balance.currency, threshold: configured }, 'provider balance is below the warning threshold');
    }
    if (amount.gt(threshold) && providers.creditRestored(provider.name)) {
      logger.info({ provider: provider.name, balance: balance.amount, currency: balance.currency }, 'provider has credit again: routing uses it again');
    }
  }
}
