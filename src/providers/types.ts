import type { DeliveryStatus } from '../db/sql.ts';
import type { SmsEncoding } from '../messages/encoding.ts';

/** The names users may put in `provider`, and that appear in `Delivery.provider` and callback paths. */
export const PROVIDER_NAMES = ['mifumo', 'mimsms', 'mtn_congo', 'nextsms', 'sandbox'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

export type ProviderCapabilities = {
  /** Most recipients one submission may carry (1: one request per recipient). */
  maxBatchSize: number;
  /** How delivery reports arrive; providers that call back may still be polled as a safety net. */
  reports: 'callback' | 'poll';
  /** First status poll this long after submission (for `reports: 'poll'`). */
  firstPollAfterMs: number;
  /** Submissions per second the provider accepts from us. */
  maxRequestsPerSecond: number;
  /** Longer windows the provider also counts our requests in (MiM: an hour, a day). */
  quotas?: ReadonlyArray<{ requests: number; seconds: number }>;
  /** Different texts per recipient in one request ('native'), or one request per distinct text ('rendered'). */
  personalisation: 'native' | 'rendered';
  /** Whether the provider can hold a message until a given time itself (the gateway holds scheduled messages itself; informational). */
  scheduling: boolean;
  /**
   * Whether the provider recognises a repeated submission reference as a retry (NextSMS
   * `reference`, MTN Congo `externalId`). Only then is the reference stored before submitting,
   * so that a retry after a crash carries the same one and the same deliveries.
   */
  recognisesRetries: boolean;
  /** What one message may be for this provider to carry it: the router skips it for anything else. */
  carries: Carriage;
  /** Whether the provider's API tells its balance (MTN Congo's does not). */
  balance: boolean;
};

export type Carriage = {
  /** Longest text, in characters as the provider counts them (UTF-16 units); unset: what the gateway allows. */
  maxCharacters?: number;
  /** Whether it joins a text longer than one SMS from parts; false: one segment only. */
  multipart: boolean;
  /** Destination regions (ISO 3166 alpha-2) it delivers to; unset: any. */
  countries?: readonly string[];
  encodings: readonly SmsEncoding[];
};

/** One message as the router sees it, to decide which provider can carry it. */
export type Cargo = { country: string; encoding: SmsEncoding; segments: number; characters: number };

/** One recipient of a submission (the submission's own reference is SubmitBatch.reference). */
export type OutboundSms = {
  deliveryId: string;
  messageId: string;
  /** E.164 */
  recipient: string;
  /** The text for this recipient (already personalised). */
  text: string;
  /** For providers with native personalisation: the template and this recipient's values. */
  template?: { text: string; variables: Record<string, string> };
};

export type SubmitBatch = {
  /**
   * Our id for this submission, the same on every retry of it (also after a crash): put it in the
   * provider's reference field (NextSMS `reference`, MTN `externalId`) so a retry is recognised.
   */
  reference?: string;
  senderId: string;
  items: OutboundSms[];
  /** Where the provider should report delivery, for providers that call back. */
  callbackUrl?: string;
};

export type SubmitFailure = {
  deliveryId: string;
  outcome: 'failed';
  /** Permanent: retrying with this provider cannot help (the dispatcher moves on to the next one). Otherwise worth a retry. */
  permanent: boolean;
  status: Extract<DeliveryStatus, 'FAILED' | 'REJECTED'>;
  errorCode: string;
  errorMessage: string;
  /** The provider's own hint of when to try again. */
  retryAfterMs?: number;
  /**
   * The request may have reached the provider and been acted on (a timeout, a dropped
   * connection, a 5xx, an unreadable answer): the provider is asked before anything is resent.
   */
  ambiguous?: true;
  /** The provider said our account there has no credit left. */
  outOfCredit?: true;
  raw?: unknown;
};

export type SubmitOutcome =
  | { deliveryId: string; outcome: 'accepted'; providerMessageId: string; raw?: unknown }
  | SubmitFailure;

export type StatusQuery = { deliveryId: string; providerMessageId: string; recipient: string; sentAt: Date };

export type StatusReport = {
  deliveryId: string;
  status: DeliveryStatus;
  errorCode?: string | null;
  errorMessage?: string | null;
  /** When it happened at the provider, if it says. */
  at?: Date;
  raw?: unknown;
};

export type ProviderBalance = { amount: string; currency: string };

/** A submission whose answer was lost, as the provider is asked about it. */
export type UnconfirmedSms = OutboundSms & { senderId: string; reference?: string; since: Date };

/** What the provider has of an unconfirmed submission: each delivery it holds, with its id there. */
export type FoundSubmission = { deliveryId: string; providerMessageId: string; raw?: unknown };

/** An HTTP request a provider made to `/callbacks/<provider>`. */
export type CallbackRequest = {
  /** Parsed JSON or form fields. */
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
  query: Record<string, string | undefined>;
};

/** One status change read from a callback, and how to find its delivery. */
export type CallbackReport = {
  /** Our delivery id when the provider echoes it; otherwise the provider's id, with the recipient when one id covers several. */
  match: { deliveryId?: string; providerMessageId?: string; recipient?: string };
  status: DeliveryStatus;
  errorCode?: string | null;
  errorMessage?: string | null;
  at?: Date;
  raw?: unknown;
};

/** A callback body that does not have the provider's documented shape. */
export class MalformedCallbackError extends Error {}

/** One upstream SMS provider, as the dispatcher and the callback route see it. */
export interface SmsProvider {
  readonly name: ProviderName;
  readonly capabilities: ProviderCapabilities;
  /** Submits a batch; never throws for a provider's answer (failures are outcomes), only for bugs. */
  send(batch: SubmitBatch): Promise<SubmitOutcome[]>;
  /** Current status of submitted deliveries; a delivery left out has nothing new. Throws when the provider cannot be asked. */
  fetchStatus(queries: StatusQuery[]): Promise<StatusReport[]>;
  fetchBalance(): Promise<ProviderBalance>;
  /**
   * Asks the provider which of these submissions, whose answers were lost, it holds (absent: it
   * cannot be asked). Throws when the provider cannot answer now; a delivery left out was not
   * taken. A delivery may be found under several ids when the provider cannot tell it from
   * another of the same text and number: the dispatcher keeps the one no other delivery has.
   */
  findSubmitted?(items: UnconfirmedSms[]): Promise<FoundSubmission[]>;
  /** Reads a delivery-report callback; throws MalformedCallbackError for a body of the wrong shape. */
  parseCallback?(request: CallbackRequest): CallbackReport[];
}

/** How a provider's code maps to ours: one row of a provider's mapping table. */
export type StatusMapping = {
  status: DeliveryStatus;
  errorCode: string | null;
  errorMessage: string | null;
  /** For failures: whether a retry (or another provider) could succeed. */
  permanent: boolean;
  /** The failure says our account at the provider has no credit left. */
  outOfCredit?: true;
};

/** What an adapter is given besides its own configuration. */
export type ProviderDeps = {
  logger: import('../logger.ts').Logger;
  /** Longest wait for one HTTP answer. */
  timeoutMs: number;
  /** Takes a slot of the provider's request rate before each request (the dispatcher's pacing). */
  pace?: () => Promise<void>;
  /** Counts a status the provider sent that the adapter does not know (left as it was). */
  onUnknownStatus?: () => void;
};
