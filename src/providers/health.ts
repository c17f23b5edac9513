import type { Db } from '../db/client.ts';

const QUIET_MS = 10_000;

/**
 * Remembers the last error and last success of each provider in the database, for
 * `providers status`. A success is written at most every 10 s per provider and process; an
 * error whenever its text changes, so a provider failing the same way is not a write per batch.
 */
export class ProviderHealth {
  private readonly written = new Map<string, { at: number; error: string | null }>();

  constructor(private readonly db: Db) {}

  async record(provider: string, error: string | null): Promise<void> {
    const last = this.written.get(provider);
    const now = Date.now();
    if (last && last.error === error && now - last.at < QUIET_MS) return;
    this.written.set(provider, { at: now, error });
    const at = new Date(now);
    await this.db.providerState.upsert({
      where: { name: provider },
      create: error ? { name: provider, lastError: error, lastErrorAt: at } : { name: provider, lastSuccessAt: at },
      update: error ? { lastError: error, lastErrorAt: at } : { lastSuccessAt: at },
    });
  }
}
