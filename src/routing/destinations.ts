import { getCountryCallingCode, type CountryCode } from 'libphonenumber-js';

/**
 * Where a message goes, as routing measures it: its country, and the network prefix of its
 * number (the country calling code and the first national digits: +255 71... is "+25571"), for
 * countries whose networks route differently.
 */
export class Destinations {
  /** Characters of an E.164 number that make its prefix, per country (0: none known). */
  private readonly lengths = new Map<string, number>();

  constructor(private readonly prefixDigits: number) {}

  /** The network prefix of `recipient` (E.164, in `country`), or undefined. */
  prefixOf(country: string, recipient: string): string | undefined {
    let length = this.lengths.get(country);
    if (length === undefined) {
      length = callingCodeOf(country)?.length ?? 0;
      if (length > 0) length += 1 + this.prefixDigits;
      this.lengths.set(country, length);
    }
    return length > 0 && recipient.length >= length ? recipient.slice(0, length) : undefined;
  }

  /** Characters of a number that always hold its prefix, whatever the country (the calling code has at most 3 digits). */
  get headLength(): number {
    return 4 + this.prefixDigits;
  }
}

function callingCodeOf(country: string): string | undefined {
  try {
    return getCountryCallingCode(country as CountryCode);
  } catch {
    return undefined;
  }
}

/** A destination as operators write it: a country code or a network prefix. */
export const DESTINATION_PATTERN = /^([A-Z]{2}|\+\d{2,8})$/;

export const isPrefix = (destination: string) => destination.startsWith('+');
