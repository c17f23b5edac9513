import { describe, expect, it } from 'vitest';
import { analyseText } from '../../src/messages/encoding.ts';

describe('GSM-7 and UCS-2 segment counting', () => {
  it.each([
    ['', 'GSM7', 1],
    ['a'.repeat(160), 'GSM7', 1],
    ['a'.repeat(161), 'GSM7', 2],
    ['a'.repeat(306), 'GSM7', 2],
    ['a'.repeat(307), 'GSM7', 3],
    ['€'.repeat(80), 'GSM7', 1], // extension characters count twice: 160 septets
    ['€'.repeat(81), 'GSM7', 2],
    ['{}[]~|^\\€', 'GSM7', 1],
    ['ÄÖÑÜäöñüàèéùìòÇØøÅåÆæßÉ¡¿§£¥ are all GSM-7', 'GSM7', 1],
    ['ï is not', 'UCS2', 1],
    ['ж'.repeat(70), 'UCS2', 1],
    ['ж'.repeat(71), 'UCS2', 2],
    ['ж'.repeat(134), 'UCS2', 2],
    ['ж'.repeat(135), 'UCS2', 3],
    ['😀'.repeat(35), 'UCS2', 1], // each emoji is two UTF-16 units
    ['😀'.repeat(36), 'UCS2', 2],
  ])('%#: %j is %s in %i segment(s)', (text, encoding, segments) => {
    expect(analyseText(text)).toMatchObject({ encoding, segments });
  });

  it('never splits an escape sequence across parts', () => {
    // 152 plain characters then one extension character: 154 septets do not fit the 153 of a part.
    expect(analyseText(`${'a'.repeat(152)}€${'a'.repeat(10)}`).segments).toBe(2);
    expect(analyseText(`${'a'.repeat(152)}€${'a'.repeat(152)}`).segments).toBe(3);
  });

  it('lists the characters that force UCS-2, once each, in order', () => {
    // Only the capital Ç is in the GSM-7 table.
    expect(analyseText('Habari 😀 Ç ç ж 😀').unicodeCharacters).toEqual(['😀', 'ç', 'ж']);
  });
});
