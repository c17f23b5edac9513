/**
 * SMS encoding and segment counting (3GPP TS 23.038). A text that fits the GSM 7-bit default
 * alphabet and its extension table is sent as GSM-7; anything else forces UCS-2.
 */

const GSM7_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
/** Each of these is sent as an escape plus a character, so it counts twice. */
const GSM7_EXTENSION = '^{}\\[~]|€\f';

const basic = new Set(GSM7_BASIC);
const extension = new Set(GSM7_EXTENSION);

export type SmsEncoding = 'GSM7' | 'UCS2';

export const LIMITS = {
  GSM7: { single: 160, part: 153 },
  UCS2: { single: 70, part: 67 },
} as const;

export const MAX_SEGMENTS = 10;

export type EncodedText = {
  encoding: SmsEncoding;
  segments: number;
  /** Characters outside GSM-7, in order of first appearance. */
  unicodeCharacters: string[];
};

export function analyseText(text: string): EncodedText {
  const unicodeCharacters = [...new Set([...text].filter((ch) => !basic.has(ch) && !extension.has(ch)))];
  if (unicodeCharacters.length === 0) {
    const units = [...text].map((ch) => (extension.has(ch) ? 2 : 1));
    return { encoding: 'GSM7', segments: countSegments(units, LIMITS.GSM7), unicodeCharacters };
  }
  // UCS-2 on the wire is UTF-16: a character outside the BMP takes two units.
  const units = [...text].map((ch) => ch.length);
  return { encoding: 'UCS2', segments: countSegments(units, LIMITS.UCS2), unicodeCharacters };
}

/** Packs characters (by their width in units) into parts; a character never straddles two parts. */
function countSegments(units: number[], limit: { single: number; part: number }): number {
  const total = units.reduce((sum, width) => sum + width, 0);
  if (total <= limit.single) return 1;
  let parts = 1;
  let used = 0;
  for (const width of units) {
    if (used + width > limit.part) {
      parts += 1;
      used = 0;
    }
    used += width;
  }
  return parts;
}
