import { parsePhoneNumberWithError, ParseError, type CountryCode } from 'libphonenumber-js/max';

export type AcceptedRecipient = { input: string; e164: string; country: string };
export type RejectedRecipient = { input: string; code: string; reason: string };

export const RECIPIENT_REJECTIONS = {
  INVALID_PHONE_FORMAT: 'INVALID_PHONE_FORMAT',
  NOT_MOBILE: 'NOT_MOBILE',
  DUPLICATE_RECIPIENT: 'DUPLICATE_RECIPIENT',
} as const;

const SEPARATORS = /[\s\-().]/g;

export type NormalisedNumber = { ok: true; e164: string; country: string } | { ok: false; code: string; reason: string };

/**
 * Reads a number written in E.164 (+255...), as international digits without the plus
 * (255...), or in the national format of `defaultCountry` (0712...).
 */
export function normaliseNumber(input: string, defaultCountry: string): NormalisedNumber {
  const compact = input.replace(SEPARATORS, '').replace(/^00/, '+');
  if (!/^\+?\d{3,17}$/.test(compact)) {
    return invalid('expected digits, optionally starting with +');
  }
  const candidates = compact.startsWith('+')
    ? [compact]
    : compact.startsWith('0')
      ? [compact, `+${compact}`]
      : [`+${compact}`, compact];

  let lastReason = 'not a valid phone number';
  for (const candidate of candidates) {
    try {
      const parsed = parsePhoneNumberWithError(candidate, defaultCountry as CountryCode);
      // With the full metadata a number is valid exactly when it has a type: one check, not two.
      const country = parsed.country;
      const type = country ? parsed.getType() : undefined;
      if (!country || type === undefined) {
        lastReason = 'not a valid phone number';
        continue;
      }
      if (type === 'FIXED_LINE') {
        return { ok: false, code: RECIPIENT_REJECTIONS.NOT_MOBILE, reason: 'a fixed-line number cannot receive SMS' };
      }
      return { ok: true, e164: parsed.number, country };
    } catch (error) {
      lastReason = error instanceof ParseError ? describeParseError(error.message) : lastReason;
    }
  }
  return invalid(lastReason);
}

function invalid(reason: string): NormalisedNumber {
  return { ok: false, code: RECIPIENT_REJECTIONS.INVALID_PHONE_FORMAT, reason };
}

function describeParseError(code: string): string {
  switch (code) {
    case 'INVALID_COUNTRY':
      return 'unknown country calling code';
    case 'TOO_SHORT':
      return 'too short';
    case 'TOO_LONG':
      return 'too long';
    default:
      return 'not a valid phone number';
  }
}

/** Normalises every input; the first of several inputs naming the same number is kept. */
export function normaliseRecipients<T extends { to: string }>(
  inputs: readonly T[],
  defaultCountry: string,
): { accepted: Array<T & AcceptedRecipient>; rejected: RejectedRecipient[] } {
  const accepted: Array<T & AcceptedRecipient> = [];
  const rejected: RejectedRecipient[] = [];
  const firstInputByNumber = new Map<string, string>();
  for (const item of inputs) {
    const result = normaliseNumber(item.to, defaultCountry);
    if (!result.ok) {
      rejected.push({ input: item.to, code: result.code, reason: result.reason });
      continue;
    }
    const first = firstInputByNumber.get(result.e164);
    if (first !== undefined) {
      rejected.push({
        input: item.to,
        code: RECIPIENT_REJECTIONS.DUPLICATE_RECIPIENT,
        reason: `same number as "${first}", which is sent once`,
      });
      continue;
    }
    firstInputByNumber.set(result.e164, item.to);
    accepted.push({ ...item, input: item.to, e164: result.e164, country: result.country });
  }
  return { accepted, rejected };
}
