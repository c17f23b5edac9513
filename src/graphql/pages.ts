import { z } from 'zod';
import { GatewayError } from '../shared/errors.ts';

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

/**
 * Cursors of a page kept in order by one column: `<tag>:<value>` in base64url. A cursor this API
 * did not issue (another tag, a value of another shape) is BAD_USER_INPUT.
 */
export function cursorCodec<T>(tag: string, shape: RegExp, parse: (value: string) => T) {
  const encode = (value: { toString(): string }) => Buffer.from(`${tag}:${value.toString()}`).toString('base64url');
  return {
    encode,
    decode(cursor: string): T {
      const text = Buffer.from(cursor, 'base64url').toString('utf8');
      const value = text.startsWith(`${tag}:`) ? text.slice(tag.length + 1) : '';
      if (!shape.test(value) || encode(value) !== cursor) {
        throw new GatewayError('BAD_USER_INPUT', 'The cursor is not one this API issued.', { argument: 'after' });
      }
      return parse(value);
    },
  };
}
