import type { Db } from '../db/client.ts';
import type { EventBus } from '../deliveries/event-bus.ts';
import { recordTransitions, type Transition } from '../deliveries/transitions.ts';
import type { CallbackReport } from '../providers/types.ts';

export type IngestResult = { received: number; applied: number; unmatched: number };

type Deps = { db: Db; bus: EventBus };
type Candidate = { id: string; providerMessageId: string | null; recipient: string };

/**
 * Turns a provider's reports into transitions of our deliveries: found by our id when the
 * provider echoes it, otherwise by the provider's id (and recipient, when one id covers several).
 * A report for a submission not recorded yet is kept and applied once it is (see
 * applyEarlyReports): a fast provider may call back before our SENT commits.
 */
export async function ingestReports(deps: Deps, provider: string, reports: CallbackReport[]): Promise<IngestResult> {
  const { matched, unmatched } = await match(deps.db, provider, reports);
  let applied = (await recordTransitions(deps, matched.map((m) => m.transition))).length;
  if (unmatched.length > 0) {
    await deps.db.earlyReport.createMany({
      data: unmatched.map((report) => ({
        provider,
        providerMessageId: report.match.providerMessageId ?? null,
        deliveryId: report.match.deliveryId ?? null,
        recipient: report.match.recipient ?? null,
        report: JSON.parse(JSON.stringify(report)) as object,
      })),
    });
    // The submission may have been recorded meanwhile; now that these are stored, look again.
    applied += await applyEarlyReports(deps, provider, {
      providerMessageIds: unmatched.flatMap((r) => (r.match.providerMessageId ? [r.match.providerMessageId] : [])),
      deliveryIds: unmatched.flatMap((r) => (r.match.deliveryId ? [r.match.deliveryId] : [])),
    });
  }
  return { received: reports.length, applied, unmatched: unmatched.length };
}

/** Applies the kept reports that now match a recorded submission; called after submissions commit. */
export async function applyEarlyReports(
  deps: Deps,
  provider: string,
  keys: { providerMessageIds: string[]; deliveryIds: string[] },
): Promise<number> {
  const rows = await deps.db.earlyReport.findMany({
    where: {
      provider,
      OR: [{ providerMessageId: { in: keys.providerMessageIds } }, { deliveryId: { in: keys.deliveryIds } }],
    },
    orderBy: { id: 'asc' },
  });
  if (rows.length === 0) return 0;
  const reports = rows.map((row) => revive(row.report as unknown as CallbackReport));
  const { matched } = await match(deps.db, provider, reports);
  const used = matched.map((m) => rows[reports.indexOf(m.report)]!.id);
  const updates = await recordTransitions(
    deps,
    matched.map((m) => m.transition),
    async (tx) => {
      await tx.earlyReport.deleteMany({ where: { id: { in: used } } });
    },
  );
  return updates.length;
}

async function match(db: Db, provider: string, reports: CallbackReport[]) {
  const ids = reports.flatMap((r) => (r.match.deliveryId ? [r.match.deliveryId] : []));
  const providerIds = reports.flatMap((r) => (r.match.providerMessageId ? [r.match.providerMessageId] : []));
  const rows =
    reports.length === 0
      ? []
      : await db.$queryRaw<Candidate[]>`
          SELECT id, provider_message_id AS "providerMessageId", recipient FROM deliveries
          WHERE provider = ${provider} AND (id = ANY(${ids}::uuid[]) OR provider_message_id = ANY(${providerIds}::text[]))`;
  const matched: Array<{ report: CallbackReport; transition: Transition }> = [];
  const unmatched: CallbackReport[] = [];
  for (const report of reports) {
    const candidates = rows.filter((row) =>
      report.match.deliveryId
        ? row.id === report.match.deliveryId
        : row.providerMessageId === report.match.providerMessageId &&
          (!report.match.recipient || sameNumber(row.recipient, report.match.recipient)),
    );
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
