import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/client.ts';

const SETTING = 'webhook_secret_key';
const SECRET_PREFIX = 'whsec_';

/** A new signing secret as Standard Webhooks writes it: `whsec_` and 32 random bytes in base64. */
export function newSigningSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

/**
 * The key that encrypts signing secrets at rest: WEBHOOK_SECRET_KEY when set (any text of 16
 * characters or more, hashed to 32 bytes); otherwise one generated on first use and kept in the
 * settings table, as the callback secret is. The latter protects a copy of the endpoints table
 * alone, not a dump of the whole database: production should set WEBHOOK_SECRET_KEY.
 */
export async function resolveSecretKey(db: Db, configured: string | undefined): Promise<Buffer> {
  if (configured) return createHash('sha256').update(configured).digest();
  const generated = randomBytes(32).toString('base64');
  // Two instances starting together agree on whichever insert landed first.
  await db.setting.createMany({ data: { key: SETTING, value: generated }, skipDuplicates: true });
  const stored = await db.setting.findUniqueOrThrow({ where: { key: SETTING } });
  return Buffer.from(stored.value, 'base64');
}

/** AES-256-GCM: `v1.<iv>.<tag>.<ciphertext>`, each base64url. */
export function encryptSecret(key: Buffer, secret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), ciphertext].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
}

export function decryptSecret(key: Buffer, stored: string): string {
  const [version, iv, tag, ciphertext] = stored.split('.');
  if (version !== 'v1' || !iv || !tag || !ciphertext) throw new Error('unreadable webhook secret');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
}
