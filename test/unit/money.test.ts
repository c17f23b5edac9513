import { describe, expect, it } from 'vitest';
import { DEFAULT_PRICE_TABLE } from '../../src/config.ts';
import { Decimal, formatMoney } from '../../src/messages/money.ts';
import { segmentPrice } from '../../src/messages/pricing.ts';
import { renderTemplate } from '../../src/messages/template.ts';

describe('money', () => {
  it.each([
    ['12.5', '12.50'],
    ['0.015', '0.015'],
    ['0.0100', '0.01'],
    ['3', '3.00'],
    ['1234567890.1234', '1234567890.1234'],
    ['-0.5', '-0.50'],
  ])('shows %s as %s', (value, shown) => {
    expect(formatMoney(value)).toBe(shown);
  });

  it('adds prices without float error', () => {
    const price = segmentPrice(DEFAULT_PRICE_TABLE, 'USD', 'BD');
    let total = new Decimal(0);
    for (let i = 0; i < 1000; i++) total = total.plus(price);
    expect(total.toString()).toBe('15');
    expect(segmentPrice(DEFAULT_PRICE_TABLE, 'USD', 'ZZ').toString()).toBe('0.05');
  });
});

describe('templates', () => {
  it('fills placeholders and reports the first missing one', () => {
    expect(renderTemplate('Hi {{ name }}, {{n}} left', { name: 'Asha', n: 3 })).toEqual({ ok: true, text: 'Hi Asha, 3 left' });
    expect(renderTemplate('Hi {{name}} {{code}}', { name: 'Asha' })).toEqual({ ok: false, missing: 'code' });
    expect(renderTemplate('{{a}}', { a: { nested: true } })).toEqual({ ok: false, missing: 'a' });
  });
});
