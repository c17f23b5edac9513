import { z } from 'zod';

export const MAX_PAGE = 100;
export const DEFAULT_PAGE = 20;

/** The `first` argument of a connection: 1 to MAX_PAGE. */
export const firstArgument = {
  required: false,
  description: `At most ${MAX_PAGE}; ${DEFAULT_PAGE} when omitted.`,
  validate: z.number().int().min(1, 'first must be at least 1').max(MAX_PAGE, `first is at most ${MAX_PAGE}`),
} as const;

/** A Relay connection from `take + 1` rows read after a cursor (the extra row says whether there is a next page). */
export function pageOf<T>(rows: T[], take: number, after: unknown, cursorOf: (row: T) => string) {
  const edges = rows.slice(0, take).map((node) => ({ cursor: cursorOf(node), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: rows.length > take,
      hasPreviousPage: after !== undefined,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}
