export const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/sms_gateway';

export function databaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env.DATABASE_URL?.trim() || DEFAULT_DATABASE_URL;
}
