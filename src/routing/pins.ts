import type { Db } from '../db/client.ts';
import { PROVIDER_NAMES } from '../providers/types.ts';
import { DESTINATION_PATTERN } from './destinations.ts';

export class PinError extends Error {}

/**
 * Sends `destination` (a country, "TZ", or a network prefix, "+25571") through `provider`
 * whatever the measurements say, on every gateway from its next reading (a few seconds). A
 * message that provider cannot carry is routed as usual.
 */
export async function pinDestination(db: Db, destination: string, provider: string): Promise<{ destination: string; provider: string }> {
  if (!DESTINATION_PATTERN.test(destination)) {
    throw new PinError(`"${destination}" is not a destination: a country code (TZ) or a network prefix (+25571)`);
  }
  if (!(PROVIDER_NAMES as readonly string[]).includes(provider)) {
    throw new PinError(`"${provider}" is not a provider (${PROVIDER_NAMES.join(', ')})`);
  }
  await db.routingPin.upsert({ where: { destination }, create: { destination, provider }, update: { provider, createdAt: new Date() } });
  return { destination, provider };
}

/** Lets the measurements decide `destination` again. */
export async function unpinDestination(db: Db, destination: string): Promise<{ destination: string; unpinned: boolean }> {
  const { count } = await db.routingPin.deleteMany({ where: { destination } });
  return { destination, unpinned: count > 0 };
}
