import { Throttled } from '../dispatch/throttle.ts';

/**
 * The HTTP calls adapters make: JSON in and out, a hard timeout, and every way a call can go
 * wrong turned into a value the adapter maps, instead of an exception.
 */
export type HttpResult =
  | { ok: true; status: number; headers: Headers; text: string; json: unknown }
  | { ok: false; kind: 'timeout' | 'network'; message: string; /** The request may have reached the provider. */ mayHaveArrived: boolean }
  /** Not sent: our own pacing of the provider has no slot for it now. */
  | { ok: false; kind: 'paced'; message: string; retryAfterMs: number };

export type HttpRequest = {
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
  /** Waits for a slot of the provider's request rate; throws Throttled when there is none soon. */
  pace?: () => Promise<void>;
};

export async function httpJson(request: HttpRequest): Promise<HttpResult> {
  if (request.pace) {
    try {
      await request.pace();
    } catch (error) {
      if (!(error instanceof Throttled)) throw error;
      return { ok: false, kind: 'paced', message: `paced: next slot in ${error.retryInMs} ms`, retryAfterMs: error.retryInMs };
    }
  }
  try {
    const response = await fetch(request.url, {
      method: request.method,
      headers: {
        accept: 'application/json',
        ...(request.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...request.headers,
      },
      body: request.body !== undefined ? JSON.stringify(request.body) : undefined,
      signal: AbortSignal.timeout(request.timeoutMs),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { ok: true, status: response.status, headers: response.headers, text, json };
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      return { ok: false, kind: 'timeout', message: `no answer within ${request.timeoutMs} ms`, mayHaveArrived: true };
    }
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return {
      ok: false,
      kind: 'network',
      message: cause?.code ?? cause?.message ?? (error as Error).message,
      mayHaveArrived: !NEVER_CONNECTED.has(cause?.code ?? ''),
    };
  }
}

/** Seconds or an HTTP date in Retry-After, as milliseconds. */
export function retryAfterMs(headers: Headers): number | undefined {
  const value = headers.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Errors that mean no connection was made, so nothing was sent. */
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export class ProviderUnavailableError extends Error {}

/** How a whole request failed, as adapters describe it before spreading it over its items. */
export type RequestFailure = {
  permanent: boolean;
  errorCode: string;
  errorMessage: string;
  retryAfterMs?: number;
  raw?: unknown;
  status?: 'FAILED' | 'REJECTED';
  ambiguous?: true;
  outOfCredit?: true;
};

/** Outcomes for every item of a batch that failed as a whole (timeout, 5xx, 429, garbage). */
export function failAll<T extends { deliveryId: string }>(
  items: T[],
  failure: RequestFailure,
) {
  return items.map((item) => ({
    deliveryId: item.deliveryId,
    outcome: 'failed' as const,
    status: failure.status ?? ('FAILED' as const),
    permanent: failure.permanent,
    errorCode: failure.errorCode,
    errorMessage: failure.errorMessage,
    ...(failure.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {}),
    ...(failure.raw !== undefined ? { raw: failure.raw } : {}),
    ...(failure.ambiguous ? { ambiguous: true as const } : {}),
    ...(failure.outOfCredit ? { outOfCredit: true as const } : {}),
  }));
}

/** The transport-level failures every adapter treats the same way. */
export function transportFailure(result: Exclude<HttpResult, { ok: true }>): RequestFailure {
  if (result.kind === 'paced') {
    return { permanent: false, errorCode: PACED, errorMessage: result.message, retryAfterMs: result.retryAfterMs };
  }
  return {
    permanent: false,
    errorCode: result.kind === 'timeout' ? 'PROVIDER_TIMEOUT' : 'PROVIDER_UNREACHABLE',
    errorMessage: result.message,
    ...(result.mayHaveArrived ? { ambiguous: true as const } : {}),
  };
}

/** A 2xx or 4xx whose body is not what the provider documents: it may have taken the message. */
export function unreadableAnswer(result: Extract<HttpResult, { ok: true }>): RequestFailure {
  return {
    permanent: false,
    errorCode: 'PROVIDER_BAD_RESPONSE',
    errorMessage: `unreadable answer (HTTP ${result.status})`,
    ambiguous: true,
    raw: result.text.slice(0, 500),
  };
}

/** A request held back by our own pacing: no try was made, so none is counted. */
export const PACED = 'PROVIDER_PACED';

export function httpFailure(result: Extract<HttpResult, { ok: true }>): RequestFailure | undefined {
  if (result.status === 429) {
    return {
      permanent: false,
      errorCode: 'PROVIDER_RATE_LIMITED',
      errorMessage: 'the provider asked us to slow down (429)',
      retryAfterMs: retryAfterMs(result.headers),
    };
  }
  if (result.status >= 500) {
    // The provider failed while handling it: perhaps after it had taken the message.
    return { permanent: false, errorCode: 'PROVIDER_ERROR', errorMessage: `the provider failed (HTTP ${result.status})`, ambiguous: true };
  }
  return undefined;
}
