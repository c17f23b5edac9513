import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';

type GlobalTypename = 'Message' | 'Delivery' | 'WebhookEndpoint' | 'Account' | 'ApiKey' | 'LedgerEntry';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The row id behind a global ID of `typename`, or undefined for anything else. */
export function rowIdOf(globalId: string, typename: GlobalTypename): string | undefined {
  try {
    const { typename: actual, id } = decodeGlobalID(globalId);
    return actual === typename && UUID.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

export function globalIdOf(typename: GlobalTypename, rowId: string): string {
  return encodeGlobalID(typename, rowId);
}
