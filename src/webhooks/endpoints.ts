import { sqlOf, type Db } from '../db/client.ts';
import { newId } from '../shared/ids.ts';
import { decryptSecret, encryptSecret, newSigningSecret } from './secrets.ts';

export type EndpointRow = { id: string; accountId: string; url: string; enabled: boolean; disabledReason: string | null; createdAt: Date };

/** Registers an endpoint; the secret is returned this once and stored encrypted. */
export async function createEndpoint(db: Db, key: Buffer, accountId: string, url: string): Promise<{ endpoint: EndpointRow; secret: string }> {
  const secret = newSigningSecret();
  const endpoint = await db.webhookEndpoint.create({
    data: { id: newId(), accountId, url, secretCiphertext: encryptSecret(key, secret) },
    select: { id: true, accountId: true, url: true, enabled: true, disabledReason: true, createdAt: true },
  });
  return { endpoint, secret };
}

/** Removes an endpoint of the account with what waits to be sent to it; undefined when it has none by this id. */
export async function deleteEndpoint(db: Db, accountId: string, id: string): Promise<EndpointRow | undefined> {
  return db.$transaction(async (tx) => {
    const endpoint = await tx.webhookEndpoint.findFirst({
      where: { id, accountId },
      select: { id: true, accountId: true, url: true, enabled: true, disabledReason: true, createdAt: true },
    });
    if (!endpoint) return undefined;
    await tx.webhookOutbox.deleteMany({ where: { endpointId: id } });
    await tx.webhookAttempt.deleteMany({ where: { endpointId: id } });
    await tx.webhookEndpoint.delete({ where: { id } });
    return endpoint;
  });
}

export type SendingEndpoint = { id: string; url: string; enabled: boolean; secret: string };

/** The endpoints of claimed notices, secrets decrypted (in memory only, for the length of a request). */
export async function endpointsForSending(db: Db, key: Buffer, ids: string[]): Promise<Map<string, SendingEndpoint>> {
  if (ids.length === 0) return new Map();
  const rows = await sqlOf(db).query<{ id: string; url: string; enabled: boolean; secretCiphertext: string }>(
    {
      name: 'webhooks-endpoints',
      text: `SELECT id, url, enabled, secret_ciphertext AS "secretCiphertext" FROM webhook_endpoints WHERE id = ANY($1::uuid[])`,
    },
    [ids],
  );
  return new Map(rows.map((row) => [row.id, { id: row.id, url: row.url, enabled: row.enabled, secret: decryptSecret(key, row.secretCiphertext) }]));
}
