import type { Cargo, Carriage } from './types.ts';

/** Why a provider cannot carry a message, or undefined when it can. */
export function whyNotCarried(carriage: Carriage, cargo: Cargo): string | undefined {
  if (carriage.countries && !carriage.countries.includes(cargo.country)) return `does not deliver to ${cargo.country}`;
  if (!carriage.encodings.includes(cargo.encoding)) return `does not take ${cargo.encoding} texts`;
  if (carriage.maxCharacters !== undefined && cargo.characters > carriage.maxCharacters) {
    return `takes at most ${carriage.maxCharacters} characters`;
  }
  if (!carriage.multipart && cargo.segments > 1) return 'does not join multi-part messages';
  return undefined;
}

/** Any length, encoding and country the gateway allows. */
export const CARRIES_ANYTHING: Carriage = { multipart: true, encodings: ['GSM7', 'UCS2'] };
