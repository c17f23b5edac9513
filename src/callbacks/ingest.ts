import { sqlOf, type Db } from '../db/client.ts';
import { groupBy } from '../shared/group-by.ts';
import type { Publisher } from '../deliveries/publish.ts';
import { recordTransitions, type Transition } from '../deliveries/transitions.ts';
import type { CallbackReport } from '../providers/types.ts';

export type IngestResult = { received: number; applied: number; unmatched: number };

type Deps = { db: Db } & Publisher;
type Candidate = { id: string; providerMessageId: string | null; recipient: string };
type Matched = { report: CallbackReport; transition: Transition };

/**
 * Turns a provider's reports into transitions of our deliveries: found by our id when the
 * provider echoes it, otherwise by the provider's id (and recipient, when one id covers several).
 * One query finds them and one transaction records them, however many there are. A final
 * report for a submission not recorded yet is kept and applied once it is (applyEarlyReports):
 * a fast provider may call back before our SENT commits. An early SENT says nothing we will
 * not record ourselves, so it is dropped.
 */
export async function ingestReports(deps: Deps, provider: string, reports: CallbackReport[]): Promise<IngestResult[]> {
  const { matched, unmatched } = await match(deps.db, provider, reports);
  const updates = await recordTransitions(
    deps,
    matched.map((m) => m.transition),
  );
  const applied = new Set(updates.map((u) => `${u.delivery.id}:${u.delivery.status}`));
  const early = unmatched.filter((report) => report.status !== 'SENT');
  if (early.length > 0) {
    await deps.db.earlyReport.createMany({
      data: early.map((report) => ({
        provider,
        providerMessageId: report.match.providerMessageId ?? null,
        deliveryId: report.match.deliveryId ?? null,
        recipient: report.match.recipient ?? null,
        report: JSON.parse(JSON.stringify(report)) as object,
      })),
    });
    // The submission may have been recorded meanwhile; now that these are stored, look again.
    await applyEarlyReports(deps, provider, {
      providerMessageIds: early.flatMap((r) => (r.match.providerMessageId ? [r.match.providerMessageId] : [])),
      deliveryIds: early.flatMap((r) => (r.match.deliveryId ? [r.match.deliveryId] : [])),
    });
  }
  const transitionOf = new Map(matched.map((m) => [m.report, m.transition]));
  return reports.map((report) => {
    const transition = transitionOf.get(report);
    return {
      received: 1,
      applied: transition && applied.has(`${transition.deliveryId}:${transition.status}`) ? 1 : 0,
      unmatched: transition ? 0 : 1,
    };
  });
}

/** Applies the kept reports that now match a recorded submission; called after submissions commit. */
export async function applyEarlyReports(
  deps: Deps,
  provider: string,
  keys: { providerMessageIds: string[]; deliveryIds: string[] },
): Promise<number> {
  const rows = await sqlOf(deps.db).query<{ id: string; report: CallbackReport }>(FIND_EARLY, [
    provider,
    keys.providerMessageIds,
    keys.deliveryIds,
  ]);
  if (rows.length === 0) return 0;
  const reports = rows.map((row) => revive(row.report));
  const { matched } = await match(deps.db, provider, reports);
  const used = matched.map((m) => rows[reports.indexOf(m.report)]!.id);
  const updates = await recordTransitions(
    deps,
    matched.map((m) => m.transition),
    { also: (tx) => tx.query(DELETE_EARLY, [used]).then(() => undefined) },
  );
  return updates.length;
}

const FIND_EARLY = {
  name: 'early-reports-find',
  text: `SELECT id::text AS id, report FROM early_reports
    WHERE provider = $1 AND (provider_message_id = ANY($2::text[]) OR delivery_id = ANY($3::uuid[]))
    ORDER BY id`,
};
const DELETE_EARLY = { name: 'early-reports-delete', text: `DELETE FROM early_reports WHERE id = ANY($1::bigint[])` };

const MATCH = {
  name: 'callbacks-match',
  text: `SELECT id, provider_message_id AS "providerMessageId", recipient FROM deliveries
    WHERE provider = $1 AND (id = ANY($2::uuid[]) OR provider_message_id = ANY($3::text[]))`,
};

async function match(db: Db, provider: string, reports: CallbackReport[]): Promise<{ matched: Matched[]; unmatched: CallbackReport[] }> {
  if (reports.length === 0) return { matched: [], unmatched: [] };
  const ids = [...new Set(reports.flatMap((r) => (r.match.deliveryId ? [r.match.deliveryId] : [])))];
  const providerIds = [...new Set(reports.flatMap((r) => (r.match.providerMessageId ? [r.match.providerMessageId] : [])))];
  const rows = await sqlOf(db).query<Candidate>(MATCH, [provider, ids, providerIds]);
  const byId = new Map(rows.map((row) => [row.id, row]));
  const byProviderId = groupBy(rows, (row) => row.providerMessageId ?? '');
  const matched: Matched[] = [];
  const unmatched: CallbackReport[] = [];
  for (const report of reports) {
    const { deliveryId, providerMessageId, recipient } = report.match;
    const candidates = deliveryId
      ? [byId.get(deliveryId)].filter((row): row is Candidate => row !== undefined)
      : (providerMessageId ? (byProviderId.get(providerMessageId) ?? []) : []).filter((row) => !recipient || sameNumber(row.recipient, recipient));
    if (candidates.length !== 1) {
      unmatched.push(report);
      continue;
    }
    matched.push({
      report,
      transition: {
        deliveryId: candidates[0]!.id,
        status: report.status,
        errorCode: report.errorCode,
        errorMessage: report.errorMessage,
        at: report.at ? new Date(report.at) : undefined,
        raw: report.raw,
      },
    });
  }
  return { matched, unmatched };
}

function revive(report: CallbackReport): CallbackReport {
  return { ...report, at: report.at ? new Date(report.at) : undefined };
}

/** Providers write numbers their own way (+255..., 255..., 0...); compare the digits that matter. */
function sameNumber(e164: string, theirs: string): boolean {
  const ours = e164.replace(/\D/g, '');
  const digits = theirs.replace(/\D/g, '');
  return ours === digits || (digits.length >= 9 && ours.endsWith(digits.replace(/^0+/, '')));
}
