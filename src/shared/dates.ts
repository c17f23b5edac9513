/** A date from a provider's text, or undefined when it is missing or not a date. */
export function dateOrUndefined(text: string | null | undefined): Date | undefined {
  if (!text) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
