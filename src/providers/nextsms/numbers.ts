/** International digits, as NextSMS writes numbers (no '+'). */
export function nextsmsNumber(recipient: unknown): string {
  if (typeof recipient === 'number') return String(recipient);
  return typeof recipient === 'string' ? recipient.replace(/\D/g, '') : '';
}
