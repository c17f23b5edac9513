import { GatewayError } from '../shared/errors.ts';

/** deliveryReports pages by (createdAt, id), newest first; the cursor names the last row seen. */
export function encodeReportCursor(row: { createdAt: Date; id: string }): string {
  return Buffer.from(`dr:${row.createdAt.getTime()}:${row.id}`).toString('base64url');
}

export function decodeReportCursor(cursor: string): { createdAt: Date; id: string } {
  const match = /^dr:(\d{1,15}):([0-9a-f-]{36})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match || encodeReportCursor({ createdAt: new Date(Number(match[1])), id: match[2]! }) !== cursor) {
    throw new GatewayError('BAD_USER_INPUT', 'The cursor is not one this API issued.', { argument: 'after' });
  }
  return { createdAt: new Date(Number(match[1])), id: match[2]! };
}
