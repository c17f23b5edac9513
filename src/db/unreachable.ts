import { StartFailure } from '../shared/start-failure.ts';

/** The database named by DATABASE_URL cannot be used; the message says what and what to do, in one line. */
export class DatabaseUnreachable extends StartFailure {}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is PostgreSQL running there?)',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be looked up',
  ETIMEDOUT: 'no answer (timed out)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'the server closed the connection',
};

/** `user@host:port/database` of a connection string: never its password. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    const user = u.username ? `${decodeURIComponent(u.username)}@` : '';
    return `${user}${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return '(an unreadable DATABASE_URL)';
  }
}

/** Turns a connection failure into DatabaseUnreachable; other errors pass through. */
export function asUnreachable(error: unknown, url: string, dataDir: string): unknown {
  const { code, message } = error as { code?: string; message?: string };
  const where = describeUrl(url);
  const fallback = `Start it or correct DATABASE_URL, or unset DATABASE_URL to use the embedded PostgreSQL kept in ${dataDir}.`;
  if (code && NETWORK_CODES[code]) {
    return new DatabaseUnreachable(`cannot reach PostgreSQL at ${where}: ${NETWORK_CODES[code]}. ${fallback}`);
  }
  if (/timeout|terminated unexpectedly/i.test(message ?? '')) {
    return new DatabaseUnreachable(`cannot reach PostgreSQL at ${where}: no answer (timed out). ${fallback}`);
  }
  // 28P01 wrong password, 28000 no such role or not allowed by pg_hba.conf, 3D000 no such database.
  if (code === '28P01' || code === '28000' || code === '3D000' || code === '42501') {
    return new DatabaseUnreachable(`PostgreSQL at ${where} refused the connection: ${message}. Correct DATABASE_URL, or unset it to use the embedded PostgreSQL kept in ${dataDir}.`);
  }
  if (error instanceof TypeError && /Invalid URL/i.test(message ?? '')) {
    return new DatabaseUnreachable(`DATABASE_URL is not a connection string (postgresql://user:password@host:port/database).`);
  }
  return error;
}
