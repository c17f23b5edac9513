/** DATABASE_URL when set; unset means the embedded PostgreSQL (see open.ts). */
export function databaseUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.DATABASE_URL?.trim() || undefined;
}
