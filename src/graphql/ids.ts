import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The row id behind a global ID of `typename`, or undefined for anything else. */
export function rowIdOf(globalId: string, typename: 'Message' | 'Delivery'): string | undefined {
  try {
    const { typename: actual, id } = decodeGlobalID(globalId);
    return actual === typename && UUID.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

export function globalIdOf(typename: 'Message' | 'Delivery', rowId: string): string {
  return encodeGlobalID(typename, rowId);
}
