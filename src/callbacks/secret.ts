import { randomBytes } from 'node:crypto';
import type { Db } from '../db/client.ts';

const KEY = 'callback_secret';

/** CALLBACK_SECRET when set; otherwise the one generated and stored on first start. */
export async function resolveCallbackSecret(db: Db, configured: string | undefined): Promise<string> {
  if (configured) return configured;
  const generated = randomBytes(24).toString('base64url');
  // Two instances starting together agree on whichever insert landed first.
  await db.setting.createMany({ data: { key: KEY, value: generated }, skipDuplicates: true });
  const stored = await db.setting.findUniqueOrThrow({ where: { key: KEY } });
  return stored.value;
}
