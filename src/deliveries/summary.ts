import { z } from 'zod';
import { sqlOf, type Db } from '../db/client.ts';
import type { DeliveryStatus } from '../db/sql.ts';
import { builder } from '../graphql/builder.ts';
import { limit } from '../graphql/context.ts';
import { DeliveryStatusEnum } from '../graphql/enums.ts';
import { GatewayError } from '../shared/errors.ts';
import { encodeCursor } from './event-log.ts';
import { FINAL_STATUSES } from './status.ts';

const HOUR_MS = 3_600_000;
/** How far back a summary may reach: each one reads every delivery accepted since `since`. */
const MAX_RANGE_MS = 24 * HOUR_MS;
const MAX_BUCKETS = 3600;
const DEFAULT_BUCKET_SECONDS = 60;

type ProviderStatusCount = { provider: string | null; status: DeliveryStatus; count: number };
type TimelineBucket = { start: Date; status: DeliveryStatus; count: number };

export type DeliverySummary = {
  since: Date;
  until: Date;
  seq: bigint;
  byProvider: ProviderStatusCount[];
  timeline: TimelineBucket[];
};

// Both scans are ranges of the (account_id, created_at) index: bounded by time, whatever the
// account's history.
export const COUNT_BY_PROVIDER = {
  name: 'summary-by-provider',
  text: `SELECT provider, status::text AS status, count(*)::int AS count
    FROM deliveries WHERE account_id = $1 AND created_at >= $2
    GROUP BY provider, status ORDER BY provider NULLS FIRST, status`,
};

// A delivery's row holds the times of its changes: accepted (created_at), taken by a provider
// (sent_at), and its final status (updated_at, which nothing moves after it).
export const TIMELINE = {
  name: 'summary-timeline',
  text: `SELECT (floor(extract(epoch FROM e.at) / $3) * $3 * 1000)::bigint::text AS start, e.status, count(*)::int AS count
    FROM deliveries d
    CROSS JOIN LATERAL (VALUES
      ('QUEUED', d.created_at),
      ('SENT', d.sent_at),
      (d.status::text, CASE WHEN d.status::text = ANY($4::text[]) THEN d.updated_at END)
    ) AS e(status, at)
    WHERE d.account_id = $1 AND d.created_at >= $2 AND e.at IS NOT NULL
    GROUP BY 1, 2 ORDER BY 1, 2`,
};

const LAST_SEQ = {
  name: 'summary-last-seq',
  text: `SELECT last_seq::text AS "lastSeq" FROM account_event_seqs WHERE account_id = $1`,
};

/**
 * The deliveries an account accepted since `since`, by provider and status, and their changes
 * per bucket since `timelineSince`, read in one snapshot together with the position of the
 * event log that it reflects: updates after that position are exactly what the summary lacks.
 */
export async function summariseDeliveries(
  db: Db,
  accountId: string,
  range: { since: Date; until: Date; timelineSince: Date; bucketSeconds: number },
): Promise<DeliverySummary> {
  return sqlOf(db).transaction(async (tx) => {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const [seqRow] = await tx.query<{ lastSeq: string }>(LAST_SEQ, [accountId]);
    const byProvider = await tx.query<ProviderStatusCount>(COUNT_BY_PROVIDER, [accountId, range.since]);
    const buckets = await tx.query<{ start: string; status: DeliveryStatus; count: number }>(TIMELINE, [
      accountId,
      range.timelineSince,
      range.bucketSeconds,
      FINAL_STATUSES,
    ]);
    return {
      since: range.since,
      until: range.until,
      seq: BigInt(seqRow?.lastSeq ?? 0),
      byProvider,
      timeline: buckets.map((b) => ({ start: new Date(Number(b.start)), status: b.status, count: b.count })),
    };
  });
}

const DeliveryStatusCountRef = builder.objectRef<{ status: DeliveryStatus; count: number }>('DeliveryStatusCount').implement({
  fields: (t) => ({
    status: t.field({ type: DeliveryStatusEnum, resolve: (c) => c.status }),
    count: t.exposeInt('count'),
  }),
});

const ProviderStatusCountRef = builder.objectRef<ProviderStatusCount>('ProviderStatusCount').implement({
  fields: (t) => ({
    provider: t.exposeString('provider', { nullable: true, description: 'Null while no provider has taken them.' }),
    status: t.field({ type: DeliveryStatusEnum, resolve: (c) => c.status }),
    count: t.exposeInt('count'),
  }),
});

const DeliveryTimelineBucketRef = builder.objectRef<TimelineBucket>('DeliveryTimelineBucket').implement({
  description: 'How many deliveries reached a status in one interval (their acceptance counts as QUEUED).',
  fields: (t) => ({
    start: t.expose('start', { type: 'DateTime' }),
    status: t.field({ type: DeliveryStatusEnum, resolve: (b) => b.status }),
    count: t.exposeInt('count'),
  }),
});

const DeliverySummaryRef = builder.objectRef<DeliverySummary>('DeliverySummary').implement({
  description: 'The deliveries accepted since `since`, as of one position of the event log.',
  fields: (t) => ({
    since: t.expose('since', { type: 'DateTime' }),
    until: t.expose('until', { type: 'DateTime', description: "When the summary was read (the gateway's clock)." }),
    cursor: t.string({
      description: 'The position of the event log the summary reflects: `deliveryUpdated(after: cursor)` brings exactly the changes it lacks.',
      resolve: (s) => encodeCursor(s.seq),
    }),
    byStatus: t.field({
      type: [DeliveryStatusCountRef],
      description: 'How many are in each status now.',
      resolve: (s) => {
        const counts = new Map<DeliveryStatus, number>();
        for (const row of s.byProvider) counts.set(row.status, (counts.get(row.status) ?? 0) + row.count);
        return [...counts].map(([status, count]) => ({ status, count }));
      },
    }),
    byProvider: t.field({ type: [ProviderStatusCountRef], description: 'How many are in each status, per provider.', resolve: (s) => s.byProvider }),
    timeline: t.field({
      type: [DeliveryTimelineBucketRef],
      description: 'Their changes of status per interval since `timeline.since`, oldest first; intervals with none are left out.',
      resolve: (s) => s.timeline,
    }),
  }),
});

const DeliveryTimelineInput = builder.inputType('DeliveryTimelineInput', {
  fields: (t) => ({
    since: t.field({ type: 'DateTime', required: false, description: "Not before the summary's `since`, which it is when omitted." }),
    bucketSeconds: t.int({
      required: false,
      description: `Length of an interval in seconds, ${DEFAULT_BUCKET_SECONDS} when omitted; at most ${MAX_BUCKETS} intervals.`,
      validate: z.number().int().min(1, 'bucketSeconds must be at least 1').max(3600, 'bucketSeconds is at most 3600'),
    }),
  }),
});

builder.queryField('deliverySummary', (t) =>
  t.field({
    type: DeliverySummaryRef,
    authScopes: { read: true },
    description:
      'The deliveries accepted since `since` (an hour ago when omitted, at most 24 hours ago): counts by status and by provider, and changes per interval, for a dashboard to start from.',
    args: {
      since: t.arg({ type: 'DateTime', required: false }),
      timeline: t.arg({ type: DeliveryTimelineInput, required: false }),
    },
    resolve: async (_root, args, ctx) => {
      await limit(ctx, 'reports');
      const until = new Date();
      const since = args.since ?? new Date(until.getTime() - HOUR_MS);
      if (until.getTime() - since.getTime() > MAX_RANGE_MS) {
        throw new GatewayError('BAD_USER_INPUT', 'since is at most 24 hours ago.', { argument: 'since' });
      }
      const timelineSince = args.timeline?.since ?? since;
      const bucketSeconds = args.timeline?.bucketSeconds ?? DEFAULT_BUCKET_SECONDS;
      if (timelineSince < since) {
        throw new GatewayError('BAD_USER_INPUT', "timeline.since is not before the summary's since.", { argument: 'timeline.since' });
      }
      if ((until.getTime() - timelineSince.getTime()) / 1000 / bucketSeconds > MAX_BUCKETS) {
        throw new GatewayError('BAD_USER_INPUT', `The timeline has at most ${MAX_BUCKETS} intervals: a later since or longer ones.`, {
          argument: 'timeline',
        });
      }
      return summariseDeliveries(ctx.services.db, ctx.caller.accountId, { since, until, timelineSince, bucketSeconds });
    },
  }),
);
