import { describe, expect, it } from 'vitest';
import { normaliseNumber, normaliseRecipients } from '../../src/messages/recipients.ts';

describe('recipient numbers', () => {
  it.each([
    ['+255712345678', 'TZ', '+255712345678', 'TZ'],
    ['255712345678', 'TZ', '+255712345678', 'TZ'],
    ['0712345678', 'TZ', '+255712345678', 'TZ'],
    ['0712 345 678', 'TZ', '+255712345678', 'TZ'],
    ['(0712) 345-678', 'TZ', '+255712345678', 'TZ'],
    ['00255712345678', 'TZ', '+255712345678', 'TZ'],
    ['8801712345678', 'TZ', '+8801712345678', 'BD'],
    ['01712345678', 'BD', '+8801712345678', 'BD'],
    ['242068463499', 'TZ', '+242068463499', 'CG'],
  ])('reads %s (default %s) as %s', (input, defaultCountry, e164, country) => {
    expect(normaliseNumber(input, defaultCountry)).toEqual({ ok: true, e164, country });
  });

  it.each([
    ['', 'INVALID_PHONE_FORMAT'],
    ['12', 'INVALID_PHONE_FORMAT'],
    ['+255123456789', 'INVALID_PHONE_FORMAT'], // the Mifumo document's example is not a valid number
    ['call me maybe', 'INVALID_PHONE_FORMAT'],
    ['+2557123456789999', 'INVALID_PHONE_FORMAT'],
    ['+99912345678', 'INVALID_PHONE_FORMAT'],
    ['+442079460000', 'NOT_MOBILE'],
    ['٠٧١٢٣٤٥٦٧٨', 'INVALID_PHONE_FORMAT'],
  ])('rejects %j with %s', (input, code) => {
    expect(normaliseNumber(input, 'TZ')).toMatchObject({ ok: false, code });
  });

  it('keeps the first of several spellings of one number', () => {
    const { accepted, rejected } = normaliseRecipients(
      [{ to: '0712345678' }, { to: '+255712345678' }, { to: 'x' }, { to: '255712345679' }],
      'TZ',
    );
    expect(accepted.map((a) => [a.input, a.e164])).toEqual([
      ['0712345678', '+255712345678'],
      ['255712345679', '+255712345679'],
    ]);
    expect(rejected.map((r) => [r.input, r.code])).toEqual([
      ['+255712345678', 'DUPLICATE_RECIPIENT'],
      ['x', 'INVALID_PHONE_FORMAT'],
    ]);
  });
});
