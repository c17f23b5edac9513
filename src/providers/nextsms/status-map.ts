import type { StatusMapping } from '../types.ts';

/**
 * NextSMS status objects ({groupId, groupName, id, name, description}), from both documents,
 * mapped to ours. They appear per recipient in send answers, delivery reports and logs.
 *
 * The two documents number them differently: 003's table has PENDING (group 18) 50-52,
 * DELIVERY (group 20) 73-80 and REJECTED (group 19) 53-69; the Postman examples (004) use
 * PENDING (group 1) 7 and 26, DELIVERED (group 3) 5 and REJECTED (group 5) 12. The ids do not
 * collide, so both sets are mapped as they are. Descriptions are the documents' own words (the
 * first sentence of 003's), and serve as the error message.
 */

export type NextsmsStatusObject = {
  groupId: number;
  groupName: string;
  id: number;
  name: string;
  description: string;
};

type StatusRow = NextsmsStatusObject & { mapping: StatusMapping };

const PENDING_003 = { groupId: 18, groupName: 'PENDING' };
const DELIVERY_003 = { groupId: 20, groupName: 'DELIVERY' };
const REJECTED_003 = { groupId: 19, groupName: 'REJECTED' };
const PENDING_004 = { groupId: 1, groupName: 'PENDING' };
const DELIVERED_004 = { groupId: 3, groupName: 'DELIVERED' };
const REJECTED_004 = { groupId: 5, groupName: 'REJECTED' };

const pending = (): StatusMapping => ({ status: 'SENT', errorCode: null, errorMessage: null, permanent: false });
const delivered = (): StatusMapping => ({ status: 'DELIVERED', errorCode: null, errorMessage: null, permanent: false });
const failure =
  (status: 'FAILED' | 'EXPIRED' | 'REJECTED', permanent: boolean) =>
  (name: string, description: string): StatusMapping => ({ status, errorCode: `NEXTSMS_${name}`, errorMessage: description, permanent });
/** Retrying at NextSMS cannot help: the number, the sender, the content or our account is the problem. */
const refused = failure('REJECTED', true);
/** Our NextSMS account has no credit (or its credit expired): routing skips NextSMS until its balance is read again. */
const noCredit = (name: string, description: string): StatusMapping => ({ ...refused(name, description), outOfCredit: true });
/** NextSMS says (or it is likely) that the same submission may go through later. */
const refusedForNow = failure('REJECTED', false);

function row(group: { groupId: number; groupName: string }, id: number, name: string, description: string, map: (name: string, description: string) => StatusMapping): StatusRow {
  return { ...group, id, name, description, mapping: map(name, description) };
}

const ROWS: StatusRow[] = [
  // 003, PENDING (group 18)
  row(PENDING_003, 50, 'PENDING_WAITING_DELIVERY', 'Message has been processed and sent to the next instance i.e. mobile operator with request acknowledgment from their platform.', pending),
  row(PENDING_003, 51, 'ENROUTE', 'Message has been processed and sent to the next instance i.e. mobile operator.', pending),
  row(PENDING_003, 52, 'PENDING_ACCEPTED', 'Message has been accepted and processed, and is ready to be sent to the next instance i.e. operator.', pending),
  // 003, DELIVERY (group 20): delivery reports from the operators
  row(DELIVERY_003, 73, 'DELIVERED', 'The message was successfully delivered.', delivered),
  row(DELIVERY_003, 74, 'EXPIRED', 'The SMSC was unable to deliver the message in a specified amount of time.', failure('EXPIRED', false)),
  row(DELIVERY_003, 75, 'DELETED', 'The message was deleted.', failure('FAILED', false)),
  row(DELIVERY_003, 76, 'UNDELIVERABLE', 'The SMS was unable to deliver the message.', failure('FAILED', true)),
  row(DELIVERY_003, 77, 'ACCEPTED', 'The SMS was accepted and will be send.', pending),
  row(DELIVERY_003, 78, 'UNKNOWN', 'Unknown error occured.', failure('FAILED', false)),
  row(DELIVERY_003, 79, 'REJECTED', 'The message was rejected.', refused),
  row(DELIVERY_003, 80, 'SKIPPED', 'The message was skipped.', failure('FAILED', false)),
  // 003, REJECTED (group 19)
  row(REJECTED_003, 53, 'REJECTED_NETWORK', 'Message has been received, but the network is either out of our coverage or not setup on your account.', refused),
  row(REJECTED_003, 54, 'REJECTED_PREFIX_MISSING', 'Message has been received, but has been rejected as the number is not recognized due to either incorrect number prefix or number length.', refused),
  row(REJECTED_003, 55, 'REJECTED_DND', 'Message has been received, and rejected due to the user being subscribed to DND (Do Not Disturb) services, disabling any service traffic to their number.', refused),
  row(REJECTED_003, 56, 'REJECTED_SOURCE', 'Your account is set to accept only registered sender ID-s while the sender ID defined in the request has not been registered on your account.', refused),
  row(REJECTED_003, 57, 'REJECTED_NOT_ENOUGH_CREDITS', 'Your account is out of credits for further submission - please top up your account.', noCredit),
  row(REJECTED_003, 58, 'REJECTED_SENDER', 'The sender ID has been blacklisted on your account - please remove the blacklist on your account or contact Support for further assistance.', refused),
  row(REJECTED_003, 59, 'REJECTED_DESTINATION', 'The destination number has been blacklisted either at the operator request or on your account - please contact Support for more information.', refused),
  row(REJECTED_003, 60, 'REJECTED_PREPAID_PACKAGE_EXPIRED', 'Account credits have been expired past their validity period - please topup your subaccount with credits to extend the validity period.', noCredit),
  row(REJECTED_003, 61, 'REJECTED_DESTINATION_NOT_REGISTERED', 'Your account has been setup for submission only to a single number for testing purposes - kindly contact your manager to remove the limitation.', refused),
  row(REJECTED_003, 62, 'REJECTED_ROUTE_NOT_AVAILABLE', 'Mesage has been received on the system, however your account has not been setup to send messages i.e. no routes on your account are available for further submission.', refused),
  // The limit is per hour and per number: a later try can pass.
  row(REJECTED_003, 63, 'REJECTED_FLOODING_FILTER', 'Message has been rejected due to a anti-flooding mechanism.', refusedForNow),
  // The document says to retry.
  row(REJECTED_003, 64, 'REJECTED_SYSTEM_ERROR', 'The request has been rejected due to an expected system system error, please retry submission or contact our technical support team for more details.', refusedForNow),
  row(REJECTED_003, 65, 'REJECTED_DUPLICATE_MESSAGE_ID', 'The request has been rejected due to a duplicate message ID specified in the submit request, while message ID-s should be a unique value', refused),
  row(REJECTED_003, 66, 'REJECTED_INVALID_UDH', 'Message has been received, while our system detected the message was formatted incorrectly because of either an invalid ESM class parameter (fully featured binary message API method) or an inaccurate amount of characters when using esmclass:64 (UDH).', refused),
  row(REJECTED_003, 67, 'REJECTED_MESSAGE_TOO_LONG', 'Message has been received, but the total message length is more than 25 parts or message text which exceeds 4000 bytes as per our system limitation.', refused),
  row(REJECTED_003, 68, 'MISSING_TO', 'The request has been received, however the "to" parameter has not been set or it is empty, i.e. there must be valid recipients to send the message.', refused),
  row(REJECTED_003, 69, 'REJECTED_INVALID_DESTINATION', 'The request has been received, however the destination is invalid - the number prefix is not correct as it does not match a valid number prefix by any mobile operator.', refused),
  // 004 (Postman examples), with their own ids and groups
  row(PENDING_004, 7, 'PENDING_ENROUTE', 'Message sent to next instance', pending),
  row(PENDING_004, 26, 'PENDING_ACCEPTED', 'Pending accepted , will be sent on scheduled time.', pending),
  row(DELIVERED_004, 5, 'DELIVERED_TO_HANDSET', 'Message delivered to handset', delivered),
  row(REJECTED_004, 12, 'REJECTED_NOT_ENOUGH_CREDITS', 'Not enough credits', noCredit),
];

export const NEXTSMS_STATUS_IDS: readonly number[] = ROWS.map((r) => r.id);
const BY_ID = new Map(ROWS.map((r) => [r.id, r]));
// 003 writes 51 as "ENROUTE (SENT)"; either spelling may come back as its name.
const BY_NAME = new Map<string, StatusRow>([...ROWS.map((r): [string, StatusRow] => [r.name, r]), ['ENROUTE (SENT)', BY_ID.get(51)!]]);

/**
 * What an unknown id means, by its group. The documented groups, and the words 003 uses for
 * outcomes (UNDELIVERABLE, EXPIRED, ACCEPTED) in case NextSMS sends them as group names.
 */
const GROUPS_BY_NAME: Record<string, (name: string, description: string) => StatusMapping> = {
  PENDING: pending,
  ACCEPTED: pending,
  DELIVERED: delivered,
  // The operators' reports: an unknown one may be a success or a failure, so nothing changes.
  DELIVERY: pending,
  UNDELIVERABLE: failure('FAILED', true),
  EXPIRED: failure('EXPIRED', false),
  REJECTED: refused,
};
const GROUP_NAMES_BY_ID: Record<number, string> = { 18: 'PENDING', 1: 'PENDING', 20: 'DELIVERY', 3: 'DELIVERED', 19: 'REJECTED', 5: 'REJECTED' };

/** Neither the id nor the group is known: keep waiting (never sends twice, never invents an outcome). */
export const NEXTSMS_UNKNOWN_STATUS: StatusMapping = pending();

/** Failures that come without a status object: HTTP refusals of a whole request, and a recipient left out of the answer. */
export const NEXTSMS_REQUEST_ERRORS: Record<string, StatusMapping> = {
  UNAUTHORIZED: { status: 'FAILED', errorCode: 'NEXTSMS_UNAUTHORIZED', errorMessage: 'NextSMS refused the username and password', permanent: true },
  BAD_REQUEST: { status: 'FAILED', errorCode: 'NEXTSMS_BAD_REQUEST', errorMessage: 'NextSMS refused the request', permanent: true },
  RECIPIENT_NOT_IN_ANSWER: {
    status: 'REJECTED',
    errorCode: 'NEXTSMS_RECIPIENT_NOT_IN_ANSWER',
    errorMessage: 'NextSMS did not list this recipient in its answer',
    permanent: true,
  },
};

/** The documented status object of `id` (what the simulator answers). */
export function nextsmsStatusObject(id: number): NextsmsStatusObject {
  const found = BY_ID.get(id);
  if (!found) throw new Error(`NextSMS status ${id} is not documented`);
  const { mapping: _mapping, ...object } = found;
  return object;
}

export type MappedStatus = { mapping: StatusMapping; by: 'id' | 'group' | 'default' };

/** Maps a status object as NextSMS sends it: by id, else by group, else the safe default. */
export function mapNextsmsStatus(status: Partial<NextsmsStatusObject>): MappedStatus {
  const known = typeof status.id === 'number' ? BY_ID.get(status.id) : undefined;
  if (known) return { mapping: known.mapping, by: 'id' };
  const groupName = typeof status.groupName === 'string' ? status.groupName.toUpperCase() : undefined;
  const group = GROUPS_BY_NAME[groupName ?? ''] ?? GROUPS_BY_NAME[GROUP_NAMES_BY_ID[status.groupId ?? -1] ?? ''];
  if (!group) return { mapping: NEXTSMS_UNKNOWN_STATUS, by: 'default' };
  const name = typeof status.name === 'string' && status.name ? codeOf(status.name) : `STATUS_${status.id ?? 'UNKNOWN'}`;
  return { mapping: group(name, status.description ?? `NextSMS status ${status.name ?? status.id}`), by: 'group' };
}

/** A documented status by id ("55") or name ("REJECTED_DND"), a group name, or a request error; undefined otherwise. */
export function mapNextsmsRaw(raw: string): StatusMapping | undefined {
  const value = raw.trim();
  if (/^\d+$/.test(value)) return BY_ID.get(Number(value))?.mapping;
  const upper = value.toUpperCase();
  const byName = BY_NAME.get(upper)?.mapping;
  if (byName) return byName;
  const group = GROUPS_BY_NAME[upper];
  if (group) return group(upper, `NextSMS status group ${upper}`);
  return NEXTSMS_REQUEST_ERRORS[upper];
}

function codeOf(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_|_$/g, '');
}
