/** The statuses whose delivery counts each account keeps, as columns of account_event_seqs. */
export const COUNTED_STATUSES = ['SCHEDULED', 'QUEUED', 'SENT', 'DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED', 'CANCELED'] as const;

/** The account_event_seqs column of each counted status, in the same order. */
export const COUNT_COLUMNS = COUNTED_STATUSES.map((status) => status.toLowerCase());

/**
 * `count(*) FILTER (WHERE <column> = 'SCHEDULED') AS scheduled, ...` for grouped rows with a
 * status; with `leaving`, less the rows whose `leaving` status is that one.
 */
export function countsByStatus(column: string, leaving?: string): string {
  return COUNTED_STATUSES.map((status, i) => {
    const arriving = `count(*) FILTER (WHERE ${column} = '${status}')`;
    return `${leaving ? `${arriving} - count(*) FILTER (WHERE ${leaving} = '${status}')` : arriving} AS ${COUNT_COLUMNS[i]}`;
  }).join(', ');
}
