export type RetryPolicy = {
  /** Tries per provider before a transient failure counts as that provider's failure. */
  maxSubmitAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** With no final report this long after submission, a delivery is given up as EXPIRED. */
  reportTimeoutMs: number;
  maxPollIntervalMs: number;
};

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxSubmitAttempts: 5,
  baseDelayMs: 1000,
  maxDelayMs: 5 * 60_000,
  reportTimeoutMs: 48 * 3600_000,
  maxPollIntervalMs: 10 * 60_000,
};

/** Exponential backoff with full jitter in its upper half, honouring a provider's retry hint. */
export function retryDelayMs(policy: RetryPolicy, attempt: number, hintMs?: number, random = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = exponential / 2 + (random() * exponential) / 2;
  return Math.max(hintMs ?? 0, Math.round(jittered));
}

export function pollDelayMs(policy: RetryPolicy, firstPollAfterMs: number, polls: number): number {
  return Math.min(policy.maxPollIntervalMs, Math.max(firstPollAfterMs, 250) * 2 ** Math.max(0, polls - 1));
}
