/**
 * ISO 8601 text of dates, each distinct instant formatted once: the rows of one batch share
 * most of their dates (created together, changed together).
 */
export function isoFormatter() {
  const cache = new Map<number, string>();
  const iso = (date: Date): string => {
    const ms = date.getTime();
    let text = cache.get(ms);
    if (text === undefined) {
      text = date.toISOString();
      cache.set(ms, text);
    }
    return text;
  };
  return { iso, isoOrNull: (date: Date | null | undefined) => (date ? iso(date) : null) };
}

export type IsoFormatter = ReturnType<typeof isoFormatter>;
