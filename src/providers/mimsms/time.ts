/**
 * MiM writes times as "2025-01-20 10:05:30", without a zone. They are read as Bangladesh time
 * (UTC+06:00 all year), the zone the document gives its business hours in.
 */
const DHAKA_OFFSET_MS = 6 * 3600_000;
const MIM_TIME = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})$/;

export function parseMimTime(text: string): Date | undefined {
  const local = MIM_TIME.exec(text.trim());
  const at = local ? new Date(`${local[1]}T${local[2]}+06:00`) : new Date(text);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

export function formatMimTime(at: Date): string {
  return new Date(at.getTime() + DHAKA_OFFSET_MS).toISOString().slice(0, 19).replace('T', ' ');
}

export function isMimTime(text: string): boolean {
  return MIM_TIME.test(text) && parseMimTime(text) !== undefined;
}
