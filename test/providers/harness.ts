import { pino } from 'pino';
import type { DeliveryStatus } from '../../src/db/sql.ts';
import type { ProviderModule } from '../../src/providers/module.ts';
import type { RecordedRequest, SimulatorServer } from '../../src/providers/simulator/server.ts';
import type { StatusMapping, StatusQuery, SubmitBatch, SubmitOutcome } from '../../src/providers/types.ts';

/** What the contract suite needs to know about one provider besides its module. */
export type ProviderHarness<Config> = {
  module: ProviderModule<Config>;
  /** Numbers in the provider's country, by what the simulators do with them (see lastDigitOutcome). */
  numbers: { delivered: string[]; failed: string; rejected: string };
  /**
   * Compares a submission the simulator received with the document's example request: method,
   * path, headers and body fields. Throws (through expect) when they differ.
   */
  expectDocumentedSubmission(request: RecordedRequest, batch: SubmitBatch, config: Config): void;
  /** Where submissions and status requests go (MTN Congo: one endpoint for both). */
  paths: { send: string; status: string };
  /** How many HTTP submissions a batch of `n` recipients with one text takes. */
  submissionsFor(n: number): number;
  /** Every status and error code of the document, with what it must map to. */
  mappingCases: Array<{ raw: string; status: DeliveryStatus; permanent?: boolean; errorCode?: string | null }>;
  mapRaw(raw: string): StatusMapping | undefined;
  /** The same configuration with credentials the provider refuses, and the code that produces. */
  wrongCredentials(config: Config): Config;
  wrongCredentialsCode: string;
  /** False for a provider whose API has no balance endpoint (MTN Congo). */
  balance?: false;
  /** For providers whose callback URL is set on their side (a dashboard), point it at the gateway. */
  connectReports?(sim: SimulatorServer, callbackUrl: string): void;
};

/** What the dispatcher would ask a provider's status endpoint about the outcomes of one batch. */
export function statusQueriesFor(batch: SubmitBatch, outcomes: SubmitOutcome[], sentAt = new Date()): StatusQuery[] {
  return outcomes.map((o, i) => ({
    deliveryId: o.deliveryId,
    providerMessageId: o.outcome === 'accepted' ? o.providerMessageId : '',
    recipient: batch.items[i]!.recipient,
    sentAt,
  }));
}

/** A debug logger whose lines a test can read, to check what an adapter logs (and never logs). */
export function capturingLogger() {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}
