import type { DeliveryStatus } from '../db/sql.ts';

/** The names users may put in `provider`, and that appear in `Delivery.provider` and callback paths. */
export const PROVIDER_NAMES = ['mifumo', 'mimsms', 'mtn_congo', 'nextsms', 'sandbox'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

export type ProviderCapabilities = {
  /** Most recipients one submission may carry (1: one request per recipient). */
  maxBatchSize: number;
  /** How delivery reports arrive. */
  reports: 'callback' | 'poll';
  /** First status poll this long after submission (for `reports: 'poll'`). */
  firstPollAfterMs: number;
  /** Submissions per second the provider accepts from us. */
  maxRequestsPerSecond: number;
  /** Personalised texts: sent natively in one request, or rendered by us per recipient. */
  personalisation: 'native' | 'rendered';
  scheduling: boolean;
};

/** One recipient of a submission. `deliveryId` travels in the provider's reference field when it has one. */
export type OutboundSms = {
  deliveryId: string;
  messageId: string;
  recipient: string;
  text: string;
};

export type SubmitBatch = {
  senderId: string;
  items: OutboundSms[];
  /** Where the provider should report delivery, for providers that call back. */
  callbackUrl?: string;
};

export type SubmitOutcome =
  | { deliveryId: string; outcome: 'accepted'; providerMessageId: string; raw?: unknown }
  | {
      deliveryId: string;
      outcome: 'failed';
      /** Permanent: retrying (here or elsewhere) cannot help. Otherwise worth a retry. */
      permanent: boolean;
      status: Extract<DeliveryStatus, 'FAILED' | 'REJECTED'>;
      errorCode: string;
      errorMessage: string;
      retryAfterMs?: number;
      raw?: unknown;
    };

export type StatusQuery = { deliveryId: string; providerMessageId: string; recipient: string; sentAt: Date };

export type StatusReport = {
  deliveryId: string;
  status: DeliveryStatus;
  errorCode?: string | null;
  errorMessage?: string | null;
  at?: Date;
  raw?: unknown;
};

export type ProviderBalance = { amount: string; currency: string };

/** One upstream SMS provider, as the dispatcher and the callback routes see it. */
export interface SmsProvider {
  readonly name: ProviderName;
  readonly capabilities: ProviderCapabilities;
  send(batch: SubmitBatch): Promise<SubmitOutcome[]>;
  /** Current status of submitted deliveries; a delivery left out has nothing new. */
  fetchStatus(queries: StatusQuery[]): Promise<StatusReport[]>;
  fetchBalance(): Promise<ProviderBalance>;
}
