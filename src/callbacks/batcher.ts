import type { Logger } from '../logger.ts';
import type { CallbackReport } from '../providers/types.ts';
import { ingestReports, type IngestResult } from './ingest.ts';

type Waiting = { reports: CallbackReport[]; resolve: (result: IngestResult) => void; reject: (error: unknown) => void };

/**
 * Providers such as Mifumo call back once per recipient. Callbacks arriving together are
 * recorded together: one match query and one transaction per provider and flush instead of one
 * per report, which keeps a burst of thousands of callbacks from queueing on the same rows.
 * Each callback is answered once its reports are committed.
 */
export class ReportBatcher {
  private waiting = new Map<string, Waiting[]>();
  private size = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ingest: (provider: string, reports: CallbackReport[]) => Promise<IngestResult[]>,
    private readonly logger: Logger,
    private readonly options = { maxDelayMs: 10, maxReports: 500 },
  ) {}

  submit(provider: string, reports: CallbackReport[]): Promise<IngestResult> {
    if (reports.length === 0) return Promise.resolve({ received: 0, applied: 0, unmatched: 0 });
    return new Promise((resolve, reject) => {
      const list = this.waiting.get(provider) ?? [];
      list.push({ reports, resolve, reject });
      this.waiting.set(provider, list);
      this.size += reports.length;
      if (this.size >= this.options.maxReports) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.maxDelayMs);
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batches = this.waiting;
    this.waiting = new Map();
    this.size = 0;
    for (const [provider, callers] of batches) void this.record(provider, callers);
  }

  private async record(provider: string, callers: Waiting[]): Promise<void> {
    try {
      const results = await this.ingest(provider, callers.flatMap((c) => c.reports));
      let offset = 0;
      for (const caller of callers) {
        const mine = results.slice(offset, offset + caller.reports.length);
        offset += caller.reports.length;
        caller.resolve({
          received: mine.length,
          applied: mine.reduce((n, r) => n + r.applied, 0),
          unmatched: mine.reduce((n, r) => n + r.unmatched, 0),
        });
      }
    } catch (error) {
      this.logger.error({ err: error, provider, callbacks: callers.length }, 'recording callback reports failed');
      for (const caller of callers) caller.reject(error);
    }
  }
}

export function createReportBatcher(deps: Parameters<typeof ingestReports>[0], logger: Logger): ReportBatcher {
  return new ReportBatcher((provider, reports) => ingestReports(deps, provider, reports), logger);
}
